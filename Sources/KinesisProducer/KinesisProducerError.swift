public import AWSCore

/// Why the producer refused or could not write a record, or could not run.
public struct KinesisProducerError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The record was refused at `send`: too large, an empty or too long partition key.
        /// Nothing else was affected.
        public static let invalidRecord = Code(rawValue: "InvalidRecord")
        /// The record could not be written before its deadline (``KinesisProducer/Configuration/recordTTL``);
        /// ``KinesisProducerError/underlying`` is the last error seen, if any.
        public static let recordExpired = Code(rawValue: "RecordExpired")
        /// Kinesis refused the record (or its whole call) with an error that retrying cannot fix
        /// (a missing stream, denied access, a KMS key problem); ``KinesisProducerError/underlying``
        /// is that error.
        public static let recordFailed = Code(rawValue: "RecordFailed")
        /// The producer is shutting down or has stopped: the record was not taken.
        public static let shutDown = Code(rawValue: "ShutDown")
        /// `trySubmit` found the buffer full (``KinesisProducer/Configuration/Backpressure``).
        public static let bufferFull = Code(rawValue: "BufferFull")
        /// Records given to `submit` since the last flush were not written (see ``failedRecords``).
        public static let undeliveredRecords = Code(rawValue: "UndeliveredRecords")
        /// A setting is invalid.
        public static let invalidConfiguration = Code(rawValue: "InvalidConfiguration")

        public var description: String { rawValue }
    }

    public var code: Code
    public var message: String
    /// The AWS error behind this one (the last one seen for an expired record).
    public var underlying: AWSError?
    /// How many times the record was sent (0 when it never was).
    public var attempts: Int
    /// For ``Code/undeliveredRecords``: how many records failed.
    public var failedRecords: Int

    public init(code: Code, message: String, underlying: AWSError? = nil, attempts: Int = 0, failedRecords: Int = 0) {
        self.code = code
        self.message = message
        self.underlying = underlying
        self.attempts = attempts
        self.failedRecords = failedRecords
    }

    public var description: String {
        var text = "\(code.rawValue): \(message)"
        if attempts > 0 { text += " (\(attempts) attempt\(attempts == 1 ? "" : "s"))" }
        if let underlying { text += "; last error: \(underlying)" }
        return text
    }
}
