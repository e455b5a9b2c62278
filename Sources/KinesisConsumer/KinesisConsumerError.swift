import KinesisLeases

/// The one error type of `KinesisConsumer`.
public struct KinesisConsumerError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public var description: String { rawValue }

        /// The shard's lease was lost (taken by another worker, or expired while its renewals
        /// failed): its checkpoints are refused and nothing is written.
        public static let leaseLost = Code(rawValue: "LeaseLost")
        /// The checkpoint is before the one already written for the shard.
        public static let checkpointRegression = Code(rawValue: "CheckpointRegression")
        /// The checkpoint names a record that was never handed out.
        public static let checkpointNotDelivered = Code(rawValue: "CheckpointNotDelivered")
        /// Both `envelopes` and `shards` were iterated, or one of them twice: records go to one
        /// reader only.
        public static let deliveryConflict = Code(rawValue: "DeliveryConflict")
        /// The configuration is invalid.
        public static let invalidConfiguration = Code(rawValue: "InvalidConfiguration")
        /// The consumer cannot go on (the stream is missing, access is denied, the lease store
        /// fails for good); ``KinesisConsumerError/underlying`` holds the cause.
        public static let consumerFailed = Code(rawValue: "ConsumerFailed")
    }

    public var code: Code
    /// The shard concerned, when there is one.
    public var shardID: String?
    public var message: String
    /// The error that caused this one.
    public var underlying: (any Error)?

    public init(code: Code, shardID: String? = nil, message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.shardID = shardID
        self.message = message
        self.underlying = underlying
    }

    public var description: String {
        var text = "\(code)"
        if let shardID { text += " (shard \(shardID))" }
        text += ": \(message)"
        if let underlying { text += " [\(underlying)]" }
        return text
    }

    static func leaseLost(_ shardID: String) -> KinesisConsumerError {
        KinesisConsumerError(code: .leaseLost, shardID: shardID, message: "the lease is no longer held by this worker; nothing was written")
    }

    static func rejected(_ rejection: ShardConsumerStateMachine.CheckpointRejection, _ shardID: String) -> KinesisConsumerError {
        switch rejection {
        case .leaseLost:
            return .leaseLost(shardID)
        case .regression(let current):
            return KinesisConsumerError(code: .checkpointRegression, shardID: shardID, message: "the checkpoint is before the one already written (\(current))")
        case .notDelivered:
            return KinesisConsumerError(code: .checkpointNotDelivered, shardID: shardID, message: "the checkpoint is past every record handed out for this shard")
        }
    }
}
