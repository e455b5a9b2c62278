#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import KinesisAPI

/// One user record as the consumer hands it out: what Samza's envelope carries (key, message,
/// offset, shard, arrival time) and the sub-sequence number, explicit hash key and lag.
///
/// An envelope is a value; it keeps a reference to its shard's consumer so that
/// ``checkpoint()`` can reach it. ``data`` shares one buffer with the other records of the same
/// `GetRecords` response: copy it (`Array(envelope.data)`) to keep it for long.
public struct Envelope: Sendable {
    /// The record as read and deaggregated.
    public let record: DeaggregatedRecord
    /// How far the shard was behind the tip of the stream when the record was fetched.
    public let millisBehindLatest: Int64?
    let shard: ShardConsumerActor

    init(record: DeaggregatedRecord, millisBehindLatest: Int64?, shard: ShardConsumerActor) {
        self.record = record
        self.millisBehindLatest = millisBehindLatest
        self.shard = shard
    }

    /// The partition key (Samza's key).
    public var partitionKey: String { record.partitionKey }
    /// The data (Samza's message).
    public var data: ArraySlice<UInt8> { record.data }
    /// The sequence number (Samza's offset); the records of one aggregate share it.
    public var sequenceNumber: SequenceNumber { record.sequenceNumber }
    /// The position inside an aggregated record (0 for a plain one).
    public var subSequenceNumber: UInt64 { record.subSequenceNumber }
    /// The shard the record was read from.
    public var shardID: String { shard.shardID }
    /// When Kinesis received the record.
    public var approximateArrivalTimestamp: Date? { record.approximateArrivalTimestamp }
    /// The explicit hash key a KPL aggregate gave the record, if any.
    public var explicitHashKey: UInt128? { record.explicitHashKey }
    /// Whether the record came out of a KPL aggregate.
    public var isAggregated: Bool { record.isAggregated }

    /// Marks everything in this envelope's shard up to and including it as done, and writes that
    /// checkpoint through the lease store before returning.
    ///
    /// Checkpoints only move forward: an envelope before the last checkpoint is refused
    /// (``KinesisConsumerError/Code/checkpointRegression``). When the shard's lease has been lost
    /// the call throws ``KinesisConsumerError/Code/leaseLost`` and writes nothing.
    public func checkpoint() async throws {
        try await shard.checkpoint(record.sequenceNumber, subSequenceNumber: record.subSequenceNumber)
    }
}

extension Envelope: CustomStringConvertible {
    public var description: String {
        "Envelope(shard: \(shardID), sequenceNumber: \(sequenceNumber), subSequenceNumber: \(subSequenceNumber), partitionKey: \(partitionKey), bytes: \(data.count))"
    }
}
