import Synchronization

/// When and how long to retry a failed call, in the style of the AWS SDKs' standard retry mode.
///
/// Up to ``maxAttempts`` attempts in all; exponential backoff with full jitter (a random delay
/// between zero and `base * 2^(attempt-1)`, capped at ``maxBackoff``), with a larger base for
/// throttling; and a ``RetryQuota`` shared by the calls of a client, so that during an outage
/// retries stop instead of multiplying the load. This is the one place errors are classified.
public struct RetryPolicy: Sendable {
    /// What kind of failure an error is.
    public enum ErrorClass: Sendable, Hashable {
        /// The service asked us to slow down (`ProvisionedThroughputExceededException`, HTTP 429, ...).
        case throttling
        /// Worth another try: 5xx, connection failures, timeouts.
        case transient
        /// Retrying cannot help, or could repeat an effect: validation errors, missing resources, bad
        /// credentials, a 2xx response we cannot decode (the call may have succeeded), TLS
        /// verification, cancellation.
        case final
    }

    /// Attempts in all, the first included (default 3). 1 turns retries off.
    public var maxAttempts: Int
    /// The backoff base for transient errors (default 100 ms).
    public var baseDelay: Duration
    /// The backoff base for throttling (default 500 ms).
    public var throttlingBaseDelay: Duration
    /// The longest single delay (default 20 s).
    public var maxBackoff: Duration
    /// The retry budget shared by the calls that use this policy; `nil` for none.
    public var quota: RetryQuota?

    public init(
        maxAttempts: Int = 3,
        baseDelay: Duration = .milliseconds(100),
        throttlingBaseDelay: Duration = .milliseconds(500),
        maxBackoff: Duration = .seconds(20),
        quota: RetryQuota? = RetryQuota()
    ) {
        precondition(maxAttempts >= 1, "maxAttempts must be at least 1")
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.throttlingBaseDelay = throttlingBaseDelay
        self.maxBackoff = maxBackoff
        self.quota = quota
    }

    /// The SDKs' standard mode: 3 attempts, full jitter, a shared quota.
    public static var standard: RetryPolicy { RetryPolicy() }
    /// One attempt, no retry.
    public static var none: RetryPolicy { RetryPolicy(maxAttempts: 1, quota: nil) }

    static let throttlingCodes: Set<AWSError.Code> = [
        .provisionedThroughputExceeded, .throttling, .throttlingShort, .throttledException, .requestThrottled,
        .requestThrottledShort, .tooManyRequests, .limitExceeded, .requestLimitExceeded, .bandwidthLimitExceeded,
        .slowDown, .kmsThrottling, .transactionInProgress,
        AWSError.Code("PriorRequestNotComplete"), AWSError.Code("EC2ThrottledException"),
    ]
    static let transientCodes: Set<AWSError.Code> = [
        .internalFailure, .internalServerError, .serviceUnavailable, .requestTimeout, .requestTimeoutException,
        .connectionFailed, .connectionLost, .timeout,
        AWSError.Code("IDPCommunicationError"), AWSError.Code("InternalError"),
    ]

    /// Classifies an error. Unknown errors (and `CancellationError`) are final.
    public static func classify(_ error: any Error) -> ErrorClass {
        guard let error = error as? AWSError else { return .final }
        if throttlingCodes.contains(error.code) || error.statusCode == 429 { return .throttling }
        if transientCodes.contains(error.code) { return .transient }
        if let status = error.statusCode, [500, 502, 503, 504].contains(status) { return .transient }
        return .final
    }

    /// The delay before attempt `attempt + 1`, after `attempt` failed (1-based), with full jitter
    /// drawn from `random` (a value in `0..<1`).
    public func delay(afterAttempt attempt: Int, errorClass: ErrorClass, random: Double) -> Duration {
        let base = errorClass == .throttling ? throttlingBaseDelay : baseDelay
        let exponent = min(max(attempt - 1, 0), 30)
        let ceiling = min(base * (1 << exponent), maxBackoff)
        return ceiling * min(max(random, 0), 1)
    }
}

/// A retry budget shared by many calls, like the SDKs' token bucket: a retry takes 5 tokens (10
/// after a timeout), a success gives back what its retries took (or 1 token when it needed none).
/// With the bucket empty, failures are returned without retry until successes refill it.
public final class RetryQuota: Sendable {
    /// The bucket's size (default 500).
    public let capacity: Int
    private let tokens: Mutex<Int>

    public init(capacity: Int = 500) {
        self.capacity = capacity
        self.tokens = Mutex(capacity)
    }

    /// Tokens left.
    public var available: Int { tokens.withLock { $0 } }

    static func cost(of error: any Error) -> Int {
        (error as? AWSError)?.code == .timeout ? 10 : 5
    }

    /// Takes `cost` tokens if there are that many.
    func acquire(_ cost: Int) -> Bool {
        tokens.withLock { value in
            guard value >= cost else { return false }
            value -= cost
            return true
        }
    }

    /// Gives `amount` tokens back, up to the capacity.
    func release(_ amount: Int) {
        tokens.withLock { $0 = min(capacity, $0 + amount) }
    }
}
