#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import AWSCore

/// A record as `GetRecords` returns it (aggregated records still packed).
///
/// ``data`` is a slice of one buffer shared by every record of the same `GetRecords` response, so
/// decoding does not allocate per record; keeping one record keeps that buffer alive. Copy the
/// bytes (`Array(record.data)`) to keep a record for long.
public struct Record: Sendable, Hashable {
    public var sequenceNumber: SequenceNumber
    public var partitionKey: String
    public var data: ArraySlice<UInt8>
    /// When Kinesis received the record (millisecond precision).
    public var approximateArrivalTimestamp: Date?
    public var encryptionType: EncryptionType?

    public init(sequenceNumber: SequenceNumber, partitionKey: String, data: ArraySlice<UInt8>, approximateArrivalTimestamp: Date? = nil, encryptionType: EncryptionType? = nil) {
        self.sequenceNumber = sequenceNumber
        self.partitionKey = partitionKey
        self.data = data
        self.approximateArrivalTimestamp = approximateArrivalTimestamp
        self.encryptionType = encryptionType
    }
}

/// What `GetRecords` returned.
public struct GetRecordsOutput: Sendable {
    public var records: [Record]
    /// The iterator for the next call; `nil` once a closed shard has been read to its end.
    public var nextShardIterator: String?
    /// How far behind the tip of the stream the response is, in milliseconds.
    public var millisBehindLatest: Int64?
    /// The shard's children, present when the shard is closed and has been read to its end.
    public var childShards: [ChildShard]?

    public init(records: [Record], nextShardIterator: String?, millisBehindLatest: Int64?, childShards: [ChildShard]?) {
        self.records = records
        self.nextShardIterator = nextShardIterator
        self.millisBehindLatest = millisBehindLatest
        self.childShards = childShards
    }

    /// Whether the shard is closed and fully read: no further iterator.
    public var reachedShardEnd: Bool { nextShardIterator == nil }
}

/// One record for `PutRecords`.
public struct PutRecordsEntry: Sendable, Hashable {
    public var data: [UInt8]
    public var partitionKey: String
    /// Routes the record by this hash key instead of the partition key's MD5.
    public var explicitHashKey: UInt128?

    public init(data: [UInt8], partitionKey: String, explicitHashKey: UInt128? = nil) {
        self.data = data
        self.partitionKey = partitionKey
        self.explicitHashKey = explicitHashKey
    }
}

/// Where a written record landed.
public struct PutRecordOutput: Sendable, Hashable {
    public var shardID: String
    public var sequenceNumber: SequenceNumber
    public var encryptionType: EncryptionType?
}

/// What `PutRecords` did with each entry, in the order they were sent.
public struct PutRecordsOutput: Sendable {
    /// One result per entry: where it landed, or why it failed.
    public enum EntryResult: Sendable, Hashable {
        case success(shardID: String, sequenceNumber: SequenceNumber)
        /// `errorCode` is `ProvisionedThroughputExceededException`, `InternalFailure`, or a KMS error.
        case failure(errorCode: AWSError.Code, errorMessage: String)
    }

    public var failedRecordCount: Int
    public var results: [EntryResult]
    public var encryptionType: EncryptionType?
}
