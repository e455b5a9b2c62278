#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A stream, addressed by name (in the client's account and region) or by ARN.
public struct StreamIdentifier: Sendable, Hashable, CustomStringConvertible {
    /// The stream name, when addressed by name.
    public let name: String?
    /// The stream ARN, when addressed by ARN.
    public let arn: String?

    /// The stream called `name`.
    public static func name(_ name: String) -> StreamIdentifier { StreamIdentifier(name: name, arn: nil) }
    /// The stream with this ARN (`arn:aws:kinesis:REGION:ACCOUNT:stream/NAME`).
    public static func arn(_ arn: String) -> StreamIdentifier { StreamIdentifier(name: nil, arn: arn) }

    public var description: String { name ?? arn ?? "" }
}

/// How a stream's capacity is managed.
public struct StreamMode: Sendable, Hashable, CustomStringConvertible {
    /// `PROVISIONED` or `ON_DEMAND`.
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static let provisioned = StreamMode(rawValue: "PROVISIONED")
    public static let onDemand = StreamMode(rawValue: "ON_DEMAND")
    public var description: String { rawValue }
}

/// A stream's status.
public struct StreamStatus: Sendable, Hashable, CustomStringConvertible, StringValueCodable {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static let creating = StreamStatus(rawValue: "CREATING")
    public static let deleting = StreamStatus(rawValue: "DELETING")
    public static let active = StreamStatus(rawValue: "ACTIVE")
    public static let updating = StreamStatus(rawValue: "UPDATING")
    public var description: String { rawValue }
}

/// Server-side encryption of a record or stream: `NONE` or `KMS`.
public struct EncryptionType: Sendable, Hashable, CustomStringConvertible, StringValueCodable {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static let none = EncryptionType(rawValue: "NONE")
    public static let kms = EncryptionType(rawValue: "KMS")
    public var description: String { rawValue }
}

/// What `DescribeStreamSummary` tells of a stream.
public struct StreamSummary: Sendable, Hashable, Decodable {
    public var streamName: String
    public var streamARN: String
    public var streamStatus: StreamStatus
    /// `nil` when the service does not report it.
    public var streamMode: StreamMode?
    public var retentionPeriodHours: Int
    public var streamCreationTimestamp: Date
    public var encryptionType: EncryptionType?
    public var keyID: String?
    public var openShardCount: Int
    public var consumerCount: Int?

    enum CodingKeys: String, CodingKey {
        case streamName = "StreamName", streamARN = "StreamARN", streamStatus = "StreamStatus"
        case streamModeDetails = "StreamModeDetails", retentionPeriodHours = "RetentionPeriodHours"
        case streamCreationTimestamp = "StreamCreationTimestamp", encryptionType = "EncryptionType"
        case keyID = "KeyId", openShardCount = "OpenShardCount", consumerCount = "ConsumerCount"
    }
    enum ModeKeys: String, CodingKey { case streamMode = "StreamMode" }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        streamName = try container.decode(String.self, forKey: .streamName)
        streamARN = try container.decode(String.self, forKey: .streamARN)
        streamStatus = try container.decode(StreamStatus.self, forKey: .streamStatus)
        if container.contains(.streamModeDetails) {
            let mode = try container.nestedContainer(keyedBy: ModeKeys.self, forKey: .streamModeDetails)
            streamMode = try mode.decodeIfPresent(String.self, forKey: .streamMode).map(StreamMode.init(rawValue:))
        }
        retentionPeriodHours = try container.decode(Int.self, forKey: .retentionPeriodHours)
        streamCreationTimestamp = try container.decode(Date.self, forKey: .streamCreationTimestamp)
        encryptionType = try container.decodeIfPresent(EncryptionType.self, forKey: .encryptionType)
        keyID = try container.decodeIfPresent(String.self, forKey: .keyID)
        openShardCount = try container.decode(Int.self, forKey: .openShardCount)
        consumerCount = try container.decodeIfPresent(Int.self, forKey: .consumerCount)
    }
}

/// The sequence numbers a shard holds: open when ``endingSequenceNumber`` is `nil`.
public struct SequenceNumberRange: Sendable, Hashable, Codable {
    public var startingSequenceNumber: SequenceNumber
    public var endingSequenceNumber: SequenceNumber?

    public init(startingSequenceNumber: SequenceNumber, endingSequenceNumber: SequenceNumber? = nil) {
        self.startingSequenceNumber = startingSequenceNumber
        self.endingSequenceNumber = endingSequenceNumber
    }

    enum CodingKeys: String, CodingKey {
        case startingSequenceNumber = "StartingSequenceNumber", endingSequenceNumber = "EndingSequenceNumber"
    }
}

/// A shard as `ListShards` describes it.
public struct Shard: Sendable, Hashable, Codable {
    public var shardID: String
    /// The shard this one was split from, or the first of the two it was merged from.
    public var parentShardID: String?
    /// The second shard of a merge.
    public var adjacentParentShardID: String?
    public var hashKeyRange: HashKeyRange
    public var sequenceNumberRange: SequenceNumberRange

    /// Whether the shard is closed (it has an ending sequence number): it takes no new records.
    public var isClosed: Bool { sequenceNumberRange.endingSequenceNumber != nil }
    /// The parents, in the order the API gives them.
    public var parentShardIDs: [String] { [parentShardID, adjacentParentShardID].compactMap { $0 } }

    public init(shardID: String, parentShardID: String? = nil, adjacentParentShardID: String? = nil, hashKeyRange: HashKeyRange, sequenceNumberRange: SequenceNumberRange) {
        self.shardID = shardID
        self.parentShardID = parentShardID
        self.adjacentParentShardID = adjacentParentShardID
        self.hashKeyRange = hashKeyRange
        self.sequenceNumberRange = sequenceNumberRange
    }

    enum CodingKeys: String, CodingKey {
        case shardID = "ShardId", parentShardID = "ParentShardId", adjacentParentShardID = "AdjacentParentShardId"
        case hashKeyRange = "HashKeyRange", sequenceNumberRange = "SequenceNumberRange"
    }
}

/// A child of a closed shard, as `GetRecords` reports it at the shard's end.
public struct ChildShard: Sendable, Hashable, Codable {
    public var shardID: String
    public var parentShards: [String]
    public var hashKeyRange: HashKeyRange

    public init(shardID: String, parentShards: [String], hashKeyRange: HashKeyRange) {
        self.shardID = shardID
        self.parentShards = parentShards
        self.hashKeyRange = hashKeyRange
    }

    enum CodingKeys: String, CodingKey {
        case shardID = "ShardId", parentShards = "ParentShards", hashKeyRange = "HashKeyRange"
    }
}

/// Where a shard iterator starts.
public struct IteratorPosition: Sendable, Hashable, CustomStringConvertible {
    /// `TRIM_HORIZON`, `LATEST`, `AT_SEQUENCE_NUMBER`, `AFTER_SEQUENCE_NUMBER` or `AT_TIMESTAMP`.
    public let type: String
    public let sequenceNumber: SequenceNumber?
    public let timestamp: Date?

    /// The oldest record still in the shard.
    public static let trimHorizon = IteratorPosition(type: "TRIM_HORIZON", sequenceNumber: nil, timestamp: nil)
    /// Just after the newest record: only records written from now on.
    public static let latest = IteratorPosition(type: "LATEST", sequenceNumber: nil, timestamp: nil)
    /// The record with this sequence number.
    public static func atSequenceNumber(_ value: SequenceNumber) -> IteratorPosition {
        IteratorPosition(type: "AT_SEQUENCE_NUMBER", sequenceNumber: value, timestamp: nil)
    }
    /// Just after the record with this sequence number.
    public static func afterSequenceNumber(_ value: SequenceNumber) -> IteratorPosition {
        IteratorPosition(type: "AFTER_SEQUENCE_NUMBER", sequenceNumber: value, timestamp: nil)
    }
    /// The first record written at or after `date`.
    public static func atTimestamp(_ date: Date) -> IteratorPosition {
        IteratorPosition(type: "AT_TIMESTAMP", sequenceNumber: nil, timestamp: date)
    }

    public var description: String {
        if let sequenceNumber { return "\(type) \(sequenceNumber)" }
        if let timestamp { return "\(type) \(timestamp.timeIntervalSince1970)" }
        return type
    }
}

/// Which shards `ListShards` returns.
public struct ShardFilter: Sendable, Hashable, Encodable {
    public let type: String
    public let shardID: String?
    public let timestamp: Date?

    /// Shards after this one (by ID), open or closed.
    public static func afterShardID(_ id: String) -> ShardFilter { ShardFilter(type: "AFTER_SHARD_ID", shardID: id, timestamp: nil) }
    /// Shards open at the trim horizon.
    public static let atTrimHorizon = ShardFilter(type: "AT_TRIM_HORIZON", shardID: nil, timestamp: nil)
    /// Every shard from the trim horizon on (all that still hold data).
    public static let fromTrimHorizon = ShardFilter(type: "FROM_TRIM_HORIZON", shardID: nil, timestamp: nil)
    /// The open shards.
    public static let atLatest = ShardFilter(type: "AT_LATEST", shardID: nil, timestamp: nil)
    /// Shards open at `date`.
    public static func atTimestamp(_ date: Date) -> ShardFilter { ShardFilter(type: "AT_TIMESTAMP", shardID: nil, timestamp: date) }
    /// Shards open at or after `date`.
    public static func fromTimestamp(_ date: Date) -> ShardFilter { ShardFilter(type: "FROM_TIMESTAMP", shardID: nil, timestamp: date) }

    enum CodingKeys: String, CodingKey { case type = "Type", shardID = "ShardId", timestamp = "Timestamp" }
}

/// An enhanced fan-out consumer of a stream.
public struct StreamConsumer: Sendable, Hashable, Decodable {
    public var consumerName: String
    public var consumerARN: String
    /// `CREATING`, `DELETING` or `ACTIVE`.
    public var consumerStatus: String
    public var consumerCreationTimestamp: Date
    /// Present in `DescribeStreamConsumer`'s answer.
    public var streamARN: String?

    enum CodingKeys: String, CodingKey {
        case consumerName = "ConsumerName", consumerARN = "ConsumerARN", consumerStatus = "ConsumerStatus"
        case consumerCreationTimestamp = "ConsumerCreationTimestamp", streamARN = "StreamARN"
    }
}

/// A struct of one string that travels as a bare JSON string (the API's enumerations, kept open).
public protocol StringValueCodable: Codable {
    var rawValue: String { get }
    init(rawValue: String)
}

extension StringValueCodable {
    public init(from decoder: any Decoder) throws {
        self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
