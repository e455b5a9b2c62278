public import KinesisAPI

/// How far a shard has been processed: a sequence number with its sub-sequence number (for a user
/// record inside a KPL aggregate), or one of KCL's sentinels.
public struct Checkpoint: Sendable, Hashable, CustomStringConvertible {
    /// The sequence number's digits, or a sentinel (`TRIM_HORIZON`, `LATEST`, `AT_TIMESTAMP`, `SHARD_END`).
    public let value: String
    /// The sub-sequence number (0 for plain records and for sentinels).
    public let subSequenceNumber: UInt64

    init(value: String, subSequenceNumber: UInt64) {
        self.value = value
        self.subSequenceNumber = subSequenceNumber
    }

    /// Nothing processed yet; start at the oldest record.
    public static let trimHorizon = Checkpoint(value: "TRIM_HORIZON", subSequenceNumber: 0)
    /// Nothing processed yet; start at the newest record.
    public static let latest = Checkpoint(value: "LATEST", subSequenceNumber: 0)
    /// Nothing processed yet; start at the configured timestamp.
    public static let atTimestamp = Checkpoint(value: "AT_TIMESTAMP", subSequenceNumber: 0)
    /// The shard is closed and every record of it processed.
    public static let shardEnd = Checkpoint(value: "SHARD_END", subSequenceNumber: 0)

    /// Everything up to and including this record (and user record) is processed.
    ///
    /// - Precondition: `subSequenceNumber` is below 2^63 (KCL stores it as a signed 64-bit number).
    public static func at(_ sequenceNumber: SequenceNumber, subSequenceNumber: UInt64 = 0) -> Checkpoint {
        precondition(subSequenceNumber <= UInt64(Int64.max), "a sub-sequence number is below 2^63")
        return Checkpoint(value: sequenceNumber.rawValue, subSequenceNumber: subSequenceNumber)
    }

    static let sentinels: Set<String> = ["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP", "SHARD_END"]

    /// Reads a stored checkpoint; `nil` when the value is neither a sentinel nor a sequence number.
    public init?(storedValue: String, subSequenceNumber: UInt64) {
        if Self.sentinels.contains(storedValue) {
            self.init(value: storedValue, subSequenceNumber: 0)
        } else if let number = SequenceNumber(storedValue) {
            self.init(value: number.rawValue, subSequenceNumber: subSequenceNumber)
        } else {
            return nil
        }
    }

    /// The sequence number, when this is not a sentinel.
    public var sequenceNumber: SequenceNumber? { Self.sentinels.contains(value) ? nil : SequenceNumber(value) }

    public var description: String {
        sequenceNumber == nil ? value : "\(value)/\(subSequenceNumber)"
    }
}

/// A shard's lease, as KCL keeps it in its DynamoDB table.
///
/// The ``counter`` fences every write: a write names the counter its writer last saw, succeeds only
/// if the stored lease still has it, and bumps it.
public struct Lease: Sendable, Hashable {
    /// The shard ID (KCL's `leaseKey`).
    public var leaseKey: String
    /// The worker holding the lease; `nil` when nobody does.
    public var owner: String?
    /// Bumped by every write; its not moving for the failover time means the owner is gone.
    public var counter: Int64
    /// How many times the lease changed owner since its last checkpoint.
    public var ownerSwitchesSinceCheckpoint: Int64
    public var checkpoint: Checkpoint
    /// A checkpoint a worker announced before handing the lease over (KCL 2.x), preserved.
    public var pendingCheckpoint: Checkpoint?
    /// Opaque state that came with the pending checkpoint (KCL 2.x), preserved.
    public var pendingCheckpointState: [UInt8]?
    /// The shard's parents (KCL's `parentShardId`, a set despite its singular name).
    public var parentShardIDs: Set<String>
    /// The shard's children, recorded at shard end.
    public var childShardIDs: Set<String>
    /// The shard's hash-key range (KCL 2.x and later record it).
    public var hashKeyRange: HashKeyRange?

    public init(
        leaseKey: String,
        owner: String? = nil,
        counter: Int64 = 0,
        ownerSwitchesSinceCheckpoint: Int64 = 0,
        checkpoint: Checkpoint = .trimHorizon,
        pendingCheckpoint: Checkpoint? = nil,
        pendingCheckpointState: [UInt8]? = nil,
        parentShardIDs: Set<String> = [],
        childShardIDs: Set<String> = [],
        hashKeyRange: HashKeyRange? = nil
    ) {
        self.leaseKey = leaseKey
        self.owner = owner
        self.counter = counter
        self.ownerSwitchesSinceCheckpoint = ownerSwitchesSinceCheckpoint
        self.checkpoint = checkpoint
        self.pendingCheckpoint = pendingCheckpoint
        self.pendingCheckpointState = pendingCheckpointState
        self.parentShardIDs = parentShardIDs
        self.childShardIDs = childShardIDs
        self.hashKeyRange = hashKeyRange
    }
}

/// The one error type of `KinesisLeases`.
public struct LeaseStoreError: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        let rawValue: String
        public var description: String { rawValue }
        /// The stored lease no longer has the counter (or the owner) the write expected: someone else
        /// wrote it since. Nothing was changed.
        public static let stale = Code(rawValue: "StaleLease")
        /// There is no lease with that key.
        public static let notFound = Code(rawValue: "LeaseNotFound")
        /// A stored item is not a valid lease (wrong type, bad checkpoint).
        public static let malformed = Code(rawValue: "MalformedLease")
        /// The store itself failed (DynamoDB, SQLite); see ``LeaseStoreError/underlying``.
        public static let storeFailure = Code(rawValue: "LeaseStoreFailure")
    }

    public var code: Code
    public var leaseKey: String?
    public var message: String
    /// The store's own error, for ``Code/storeFailure``.
    public var underlying: (any Error)?

    public init(code: Code, leaseKey: String?, message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.leaseKey = leaseKey
        self.message = message
        self.underlying = underlying
    }

    public var description: String {
        "\(code)\(leaseKey.map { " (lease \($0))" } ?? ""): \(message)\(underlying.map { ": \($0)" } ?? "")"
    }

    static func stale(_ lease: Lease, _ action: String) -> LeaseStoreError {
        LeaseStoreError(code: .stale, leaseKey: lease.leaseKey, message: "could not \(action): the lease changed since counter \(lease.counter)\(lease.owner.map { " (owner \($0))" } ?? "")")
    }
}
