/// The one error type of `AWSCore`: a failed AWS call, a transport failure, missing credentials or
/// bad configuration.
///
/// AWS error codes keep their raw string in ``code``; the ones the runtime acts on have named
/// members (``Code/provisionedThroughputExceeded``, ``Code/expiredIterator``, ...). The
/// ``description`` names the operation, the code, the HTTP status and the AWS request ID; it never
/// contains a secret key or a session token.
public struct AWSError: Error, Sendable, CustomStringConvertible {
    /// An error code: AWS's own (`__type` without its namespace) or one of the client-side codes.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        // Throttling, as the AWS services spell it.
        public static let provisionedThroughputExceeded = Code("ProvisionedThroughputExceededException")
        public static let throttling = Code("ThrottlingException")
        public static let throttlingShort = Code("Throttling")
        public static let throttledException = Code("ThrottledException")
        public static let requestThrottled = Code("RequestThrottledException")
        public static let requestThrottledShort = Code("RequestThrottled")
        public static let tooManyRequests = Code("TooManyRequestsException")
        public static let limitExceeded = Code("LimitExceededException")
        public static let requestLimitExceeded = Code("RequestLimitExceeded")
        public static let bandwidthLimitExceeded = Code("BandwidthLimitExceeded")
        public static let slowDown = Code("SlowDown")
        public static let kmsThrottling = Code("KMSThrottlingException")
        public static let transactionInProgress = Code("TransactionInProgressException")

        // Transient server-side failures.
        public static let internalFailure = Code("InternalFailure")
        public static let internalServerError = Code("InternalServerError")
        public static let serviceUnavailable = Code("ServiceUnavailable")
        public static let requestTimeout = Code("RequestTimeout")
        public static let requestTimeoutException = Code("RequestTimeoutException")

        // Errors callers act on.
        public static let expiredIterator = Code("ExpiredIteratorException")
        public static let resourceNotFound = Code("ResourceNotFoundException")
        public static let resourceInUse = Code("ResourceInUseException")
        public static let invalidArgument = Code("InvalidArgumentException")
        public static let conditionalCheckFailed = Code("ConditionalCheckFailedException")
        public static let validation = Code("ValidationException")
        public static let accessDenied = Code("AccessDeniedException")
        public static let unrecognizedClient = Code("UnrecognizedClientException")
        public static let invalidSignature = Code("InvalidSignatureException")
        public static let expiredToken = Code("ExpiredTokenException")
        public static let incompleteSignature = Code("IncompleteSignatureException")

        // Client-side codes (never sent by AWS).
        /// The TCP or TLS connection could not be made (refused, unreachable, DNS, handshake).
        public static let connectionFailed = Code("ConnectionFailed")
        /// The connection broke while the request or response was in flight (reset, closed early).
        public static let connectionLost = Code("ConnectionLost")
        /// The connect or request timeout passed.
        public static let timeout = Code("Timeout")
        /// The response body passed the configured size limit.
        public static let responseTooLarge = Code("ResponseTooLarge")
        /// The response could not be understood (not JSON where JSON was due, missing fields, ...).
        public static let malformedResponse = Code("MalformedResponse")
        /// An HTTP error status without an AWS error code in the body or headers.
        public static let httpStatus = Code("HTTPStatus")
        /// No credential provider produced credentials, or one failed.
        public static let credentialsNotFound = Code("CredentialsNotFound")
        /// Configuration or a configuration file is invalid.
        public static let invalidConfiguration = Code("InvalidConfiguration")
        /// The transport was shut down.
        public static let transportShutdown = Code("TransportShutdown")
        /// The server's TLS certificate could not be verified (wrong host name, unknown CA, expired).
        public static let tlsVerificationFailed = Code("TLSVerificationFailed")
        /// The proxy refused the request (for example 407 Proxy Authentication Required).
        public static let proxyFailed = Code("ProxyFailed")
        /// A transport failure that fits none of the other codes.
        public static let transportFailure = Code("TransportFailure")
    }

    /// The error code.
    public var code: Code
    /// A human-readable message: AWS's `message`, or ours.
    public var message: String
    /// The AWS service signing name (`kinesis`, `dynamodb`, `sts`), when the error came from a call.
    public var service: String?
    /// The operation (`GetRecords`, `PutItem`, ...), when the error came from a call.
    public var operation: String?
    /// The HTTP status of the response, when there was one.
    public var statusCode: Int?
    /// The AWS request ID (`x-amzn-RequestId`), when there was one.
    public var requestID: String?
    /// How many attempts were made before this error was returned (1 when there was no retry).
    public var attempts: Int

    public init(
        code: Code,
        message: String,
        service: String? = nil,
        operation: String? = nil,
        statusCode: Int? = nil,
        requestID: String? = nil,
        attempts: Int = 1
    ) {
        self.code = code
        self.message = message
        self.service = service
        self.operation = operation
        self.statusCode = statusCode
        self.requestID = requestID
        self.attempts = attempts
    }

    public var description: String {
        var text = ""
        if let operation {
            text += "\(service.map { "\($0) " } ?? "")\(operation) failed: "
        }
        text += code.rawValue
        var context: [String] = []
        if let statusCode { context.append("HTTP \(statusCode)") }
        if let requestID { context.append("request ID \(requestID)") }
        if attempts > 1 { context.append("after \(attempts) attempts") }
        if !context.isEmpty { text += " (\(context.joined(separator: ", ")))" }
        if !message.isEmpty { text += ": \(message)" }
        return text
    }
}

extension AWSError {
    static func configuration(_ message: String) -> AWSError {
        AWSError(code: .invalidConfiguration, message: message)
    }
}
