import Foundation
public import KinesisConsumer

/// A user record as a stream holds it, in the one form the integration suites compare: as boto3
/// with aws-kinesis-agg reads it (``Peer/userRecords(endpoint:stream:)``) and as our consumer
/// delivers it (``consume(_:count:checkpointLast:)``). Data is base64; an explicit hash key only
/// inside an aggregate (Kinesis keeps none for a plain record).
public struct StoredRecord: Hashable, Sendable, CustomStringConvertible {
    public var shardID: String
    public var sequenceNumber: String
    public var subSequenceNumber: UInt64
    public var partitionKey: String
    public var data: String
    public var explicitHashKey: String?

    public init(shardID: String, sequenceNumber: String, subSequenceNumber: UInt64, partitionKey: String, data: String, explicitHashKey: String?) {
        self.shardID = shardID
        self.sequenceNumber = sequenceNumber
        self.subSequenceNumber = subSequenceNumber
        self.partitionKey = partitionKey
        self.data = data
        self.explicitHashKey = explicitHashKey
    }

    public init(_ envelope: Envelope) {
        self.init(
            shardID: envelope.shardID, sequenceNumber: envelope.sequenceNumber.rawValue, subSequenceNumber: envelope.subSequenceNumber,
            partitionKey: envelope.partitionKey, data: Data(envelope.data).base64EncodedString(),
            explicitHashKey: envelope.isAggregated ? envelope.explicitHashKey?.description : nil
        )
    }

    public var description: String { "\(shardID)/\(sequenceNumber)/\(subSequenceNumber) \(partitionKey)" }
}

extension Peer {
    /// Every user record of `stream`, read with boto3 from the trim horizon and unpacked with
    /// aws-kinesis-agg, in shard order.
    public static func userRecords(endpoint: String, stream: String) async throws -> [StoredRecord] {
        let raw = try await run(["read", "--endpoint", endpoint, "--stream", stream], input: [String](), as: [RawRecordJSON].self)
        return raw.flatMap { record in
            record.users.map {
                StoredRecord(shardID: record.shardId, sequenceNumber: record.seq, subSequenceNumber: $0.sub ?? 0, partitionKey: $0.pk, data: $0.data, explicitHashKey: $0.ehk)
            }
        }
    }
}

/// Reads `consumer.envelopes` until `count` came (within 60 s), optionally checkpointing each
/// shard's last one. The consumer must be running.
public func consume(_ consumer: KinesisConsumer, count: Int, checkpointLast: Bool) async throws -> [StoredRecord] {
    try await withThrowingTaskGroup(of: [StoredRecord]?.self) { group in
        group.addTask {
            var seen: [StoredRecord] = []
            var last: [String: Envelope] = [:]
            for try await envelope in consumer.envelopes {
                seen.append(StoredRecord(envelope))
                last[envelope.shardID] = envelope
                if seen.count == count { break }
            }
            if checkpointLast {
                for envelope in last.values { try await consumer.checkpoint(envelope) }
            }
            return seen
        }
        group.addTask {
            try await Task.sleep(for: .seconds(60))
            return nil
        }
        defer { group.cancelAll() }
        guard let result = try await group.next(), let seen = result else { throw SupportError("timed out reading \(count) records") }
        return seen
    }
}
