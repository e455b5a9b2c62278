#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import Logging

/// A client for one AWS service that speaks the AWS JSON 1.0 / 1.1 protocol: it signs each call
/// with SigV4, sends it through an ``HTTPTransport``, decodes errors and retries by its
/// ``RetryPolicy``.
///
/// The service clients (Kinesis, DynamoDB) are built on it; it can also call any operation of such a
/// service by name with a raw JSON body.
///
/// - Important: A value type that is safe to share between tasks; copies share the transport, the
///   credential cache and the retry quota.
public struct AWSJSONClient: Sendable {
    public let service: AWSService
    public let region: Region
    public let endpoint: Endpoint
    public let credentialProvider: any CredentialProvider
    public let transport: any HTTPTransport
    public let retryPolicy: RetryPolicy
    public let logger: Logger
    let signer: SigV4Signer
    let sleep: @Sendable (Duration) async throws -> Void
    let random: @Sendable () -> Double
    let now: @Sendable () -> Date

    /// Creates a client from resolved parts.
    ///
    /// - Parameters:
    ///   - sleep: How to wait between attempts (injected in tests); a real clock's sleep by default.
    ///   - random: The jitter source, a value in `0..<1`.
    ///   - now: The signing time.
    public init(
        service: AWSService,
        region: Region,
        endpoint: Endpoint,
        credentialProvider: any CredentialProvider,
        transport: any HTTPTransport,
        retryPolicy: RetryPolicy = .standard,
        logger: Logger = Logger(label: "swift-kinesis-client.aws"),
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await ContinuousClock().sleep(for: $0) },
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.service = service
        self.region = region
        self.endpoint = endpoint
        self.credentialProvider = credentialProvider
        self.transport = transport
        self.retryPolicy = retryPolicy
        self.logger = logger
        self.signer = SigV4Signer(service: service.signingName, region: region.rawValue)
        self.sleep = sleep
        self.random = random
        self.now = now
    }

    /// Creates a client, resolving region, endpoint and credentials from `configuration`, the
    /// environment and the shared files (read off the cooperative pool).
    ///
    /// - Parameter transport: The transport to use; a new ``CurlTransport`` with `configuration.http`
    ///   when `nil`.
    /// - Throws: ``AWSError/Code/invalidConfiguration`` naming what is missing or wrong.
    public init(
        service: AWSService,
        configuration: AWSConfiguration,
        transport: (any HTTPTransport)? = nil,
        logger: Logger = Logger(label: "swift-kinesis-client.aws")
    ) async throws {
        let environment = configuration.environment
        let profileName = configuration.profile ?? environment["AWS_PROFILE"] ?? "default"
        let needsFiles = configuration.region == nil && environment["AWS_REGION"] == nil && environment["AWS_DEFAULT_REGION"] == nil
            || configuration.endpoint == nil
        let files = needsFiles ? try await SharedConfigFiles.load(environment: environment) : nil
        let profile = files?.profile(profileName)
        let region = try Region.resolve(
            explicit: configuration.region, environment: environment, profile: profile, profileName: profileName, files: files
        )
        let endpoint = try service.endpoint(explicit: configuration.endpoint, region: region, environment: environment, profile: profile)
        let credentials = configuration.credentialProvider
            ?? CredentialProviderChain.default(profile: configuration.profile, environment: environment)
        self.init(
            service: service,
            region: region,
            endpoint: endpoint,
            credentialProvider: CachingCredentialProvider(credentials),
            transport: transport ?? CurlTransport(configuration: configuration.http),
            retryPolicy: configuration.retry,
            logger: logger
        )
    }

    // MARK: Calls

    /// Calls `operation` with a JSON `body`; returns the successful (2xx) response.
    ///
    /// - Throws: ``AWSError`` with the service's error code, the HTTP status and the request ID, after
    ///   the retries the policy allows; `CancellationError`.
    public func send(_ operation: String, body: [UInt8], timeout: Duration? = nil) async throws -> HTTPResponse {
        try await send(operation, body: body, timeout: timeout) { $0 }
    }

    /// Calls `operation` with `input` encoded as JSON and decodes the response as `Output`.
    /// Dates travel as epoch seconds and `Data` as base64, as the AWS JSON protocols define.
    public func send<Input: Encodable, Output: Decodable>(
        _ operation: String,
        input: Input,
        as output: Output.Type = Output.self,
        timeout: Duration? = nil
    ) async throws -> Output {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        let body: [UInt8]
        do {
            body = Array(try encoder.encode(input))
        } catch {
            throw AWSError(code: .invalidArgument, message: "could not encode the request: \(error)", service: service.signingName, operation: operation)
        }
        return try await send(operation, body: body, timeout: timeout) { response in
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .secondsSince1970
            do {
                return try decoder.decode(Output.self, from: Data(response.body.isEmpty ? Array("{}".utf8) : response.body))
            } catch {
                throw AWSError(
                    code: .malformedResponse,
                    message: "could not decode the response as \(Output.self): \(Self.describe(error))",
                    statusCode: response.status,
                    requestID: response.headers["x-amzn-RequestId"]
                )
            }
        }
    }

    /// Calls `operation` and hands the successful response to `decode`, retrying failed attempts by
    /// the retry policy. A 2xx response that `decode` rejects is not sent again unless `decode`
    /// throws a retryable error: the call may have had its effect.
    public func send<Output>(
        _ operation: String,
        body: [UInt8],
        timeout: Duration? = nil,
        decode: (HTTPResponse) throws -> Output
    ) async throws -> Output {
        var attempt = 0
        var retryCost = 0
        while true {
            attempt += 1
            try Task.checkCancellation()
            do {
                let response = try await attemptOnce(operation, body: body, timeout: timeout)
                let output = try decode(response)
                retryPolicy.quota?.release(retryCost == 0 ? 1 : retryCost)
                return output
            } catch let error as CancellationError {
                throw error
            } catch {
                var failure = (error as? AWSError) ?? AWSError(code: .transportFailure, message: "\(error)")
                failure.service = service.signingName
                failure.operation = operation
                failure.attempts = attempt
                let errorClass = RetryPolicy.classify(failure)
                guard errorClass != .final, attempt < retryPolicy.maxAttempts else { throw failure }
                let cost = RetryQuota.cost(of: failure)
                if let quota = retryPolicy.quota, !quota.acquire(cost) {
                    failure.message += failure.message.isEmpty ? "retry quota exhausted" : " (retry quota exhausted)"
                    throw failure
                }
                retryCost += cost
                let delay = retryPolicy.delay(afterAttempt: attempt, errorClass: errorClass, random: random())
                var metadata: Logger.Metadata = [
                    "aws.service": "\(service.signingName)",
                    "aws.operation": "\(operation)",
                    "aws.error_code": "\(failure.code)",
                    "aws.attempt": "\(attempt)",
                    "aws.retry_delay_ms": "\(delay.milliseconds)",
                ]
                if let requestID = failure.requestID { metadata["aws.request_id"] = "\(requestID)" }
                logger.log(level: errorClass == .throttling ? .debug : .info, "AWS call failed, retrying", metadata: metadata)
                try await sleep(delay)
            }
        }
    }

    private func attemptOnce(_ operation: String, body: [UInt8], timeout: Duration?) async throws -> HTTPResponse {
        let credentials = try await credentialProvider.credentials()
        var headers: HTTPHeaders = ["Content-Type": "application/x-amz-json-\(service.jsonVersion)"]
        if let prefix = service.targetPrefix {
            headers.add(name: "X-Amz-Target", value: "\(prefix).\(operation)")
        }
        var request = HTTPRequest(method: .post, endpoint: endpoint, path: "/", headers: headers, body: body)
        signer.sign(&request, credentials: credentials, date: now())
        let response = try await transport.execute(request, timeout: timeout)
        guard (200..<300).contains(response.status) else {
            var error = AWSErrorDecoder.decode(status: response.status, headers: response.headers, body: response.body)
            // Whatever a service (or a proxy in between) echoes, our secrets never leave in an error.
            for secret in [credentials.secretAccessKey, credentials.sessionToken ?? ""] where !secret.isEmpty {
                error.message = error.message.replacing(secret, with: "<redacted>")
            }
            throw error
        }
        return response
    }

    private static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map(\.stringValue).joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing field '\(path(context).isEmpty ? "" : path(context) + ".")\(key.stringValue)'"
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            return "field '\(path(context))' is not a \(type)"
        case .dataCorrupted(let context):
            return path(context).isEmpty ? "not valid JSON" : "field '\(path(context))' is invalid: \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}
