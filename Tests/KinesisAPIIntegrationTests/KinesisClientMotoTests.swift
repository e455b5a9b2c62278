import IntegrationSupport
import AWSCore
import Foundation
import KinesisAPI
import Testing

/// The Kinesis client against the moto server, cross-checked with boto3 and aws-kinesis-agg.
/// (Where moto is not faithful, see `../shared/EMULATOR-NOTES.md`, the unit tests decode bodies
/// written from the AWS API reference instead.)
@Suite struct KinesisClientMotoTests {
    /// Reads every record of every shard from TRIM_HORIZON (moto never ends a shard: stop at the
    /// first empty batch; bounded).
    static func readAll(_ kinesis: KinesisClient, _ stream: StreamIdentifier) async throws -> [(shardID: String, record: Record)] {
        var out: [(String, Record)] = []
        for shard in try await kinesis.listShards(stream) {
            var iterator = try await kinesis.getShardIterator(stream, shardID: shard.shardID, position: .trimHorizon)
            for _ in 0..<1000 {
                let batch = try await kinesis.getRecords(iterator: iterator, limit: 10_000)
                out += batch.records.map { (shard.shardID, $0) }
                guard !batch.records.isEmpty, let next = batch.nextShardIterator else { break }
                iterator = next
            }
        }
        return out
    }

    @Test func readsWhatBoto3WroteFieldByField() async throws {
        let kinesis = try await Moto.client()
        let name = Moto.uniqueStream("api-read")
        try await kinesis.createStream(name, shardCount: 2)
        defer { Task { try? await kinesis.deleteStream(.name(name)) } }

        var generator = SystemRandomNumberGenerator()
        func random(_ count: Int) -> String { Data((0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }).base64EncodedString() }
        let plain = (0..<30).map { Peer.UserRecordJSON(pk: "customer-\($0 % 7)", data: random($0 * 13), ehk: $0 % 6 == 0 ? "\(UInt128($0) << 100)" : nil) }
        let aggregated: [[Peer.UserRecordJSON]] = [
            (0..<10).map { Peer.UserRecordJSON(pk: "agg-\($0)", data: random($0 * 7), ehk: $0 % 3 == 0 ? "\($0 * 99)" : nil) },
            [Peer.UserRecordJSON(pk: "large", data: random(200_000)), Peer.UserRecordJSON(pk: "empty", data: "")],
        ]
        let written = try await Peer.run(["write", "--endpoint", try Moto.endpoint(), "--stream", name], input: Peer.WriteSpec(plain: plain, aggregated: aggregated), as: [Peer.PutResult].self)
        #expect(written.count == 32)

        let theirs = try await Peer.run(["read", "--endpoint", try Moto.endpoint(), "--stream", name], input: [String](), as: [Peer.RawRecordJSON].self)
        let ours = try await Self.readAll(kinesis, .name(name))
        #expect(ours.count == 32)
        #expect(ours.count == theirs.count)
        for ((shardID, record), reference) in zip(ours, theirs) {
            #expect(shardID == reference.shardId)
            #expect(record.sequenceNumber.rawValue == reference.seq)
            #expect(record.partitionKey == reference.pk)
            #expect(Data(record.data).base64EncodedString() == reference.data)
            #expect(record.encryptionType?.rawValue == reference.encryption)
            let arrival = try #require(record.approximateArrivalTimestamp?.timeIntervalSince1970)
            #expect(abs(arrival - reference.arrival) < 0.001)
        }
        // Every record landed where boto3 was told it did.
        #expect(Set(ours.map { "\($0.shardID)/\($0.record.sequenceNumber)" }) == Set(written.map { "\($0.shardId)/\($0.seq)" }))

        // Deaggregated here and by aws-kinesis-agg: the same user records.
        var deaggregator = Deaggregator(shardID: "all")
        for ((_, record), reference) in zip(ours, theirs) {
            var users: [DeaggregatedRecord] = []
            deaggregator.deaggregate(record, into: &users)
            #expect(users.count == reference.users.count)
            for (user, expected) in zip(users, reference.users) {
                #expect(user.partitionKey == expected.pk)
                #expect(user.explicitHashKey?.description == expected.ehk)
                #expect(user.subSequenceNumber == expected.sub)
                #expect(user.isAggregated == expected.aggregated)
                #expect(Data(user.data).base64EncodedString() == expected.data)
                #expect(user.sequenceNumber == record.sequenceNumber)
            }
        }
        #expect(deaggregator.failureCount == 0)
        let totalUsers = theirs.reduce(0) { $0 + $1.users.count }
        #expect(totalUsers == 30 + 12)
    }

    @Test func iteratorPositions() async throws {
        let kinesis = try await Moto.client()
        let name = Moto.uniqueStream("api-iter")
        try await kinesis.createStream(name, shardCount: 1)
        defer { Task { try? await kinesis.deleteStream(.name(name)) } }
        let stream = StreamIdentifier.name(name)
        var written: [PutRecordOutput] = []
        for index in 0..<5 {
            written.append(try await kinesis.putRecord(stream, data: Array("r\(index)".utf8), partitionKey: "p"))
        }
        let shardID = written[0].shardID
        func first(_ position: IteratorPosition) async throws -> [String] {
            let iterator = try await kinesis.getShardIterator(stream, shardID: shardID, position: position)
            return try await kinesis.getRecords(iterator: iterator).records.map { String(decoding: $0.data, as: UTF8.self) }
        }
        #expect(try await first(.trimHorizon) == ["r0", "r1", "r2", "r3", "r4"])
        #expect(try await first(.atSequenceNumber(written[2].sequenceNumber)) == ["r2", "r3", "r4"])
        #expect(try await first(.afterSequenceNumber(written[2].sequenceNumber)) == ["r3", "r4"])
        #expect(try await first(.atTimestamp(Date(timeIntervalSince1970: 0))) == ["r0", "r1", "r2", "r3", "r4"])
        let latest = try await kinesis.getShardIterator(stream, shardID: shardID, position: .latest)
        #expect(try await kinesis.getRecords(iterator: latest).records.isEmpty)
        _ = try await kinesis.putRecord(stream, data: Array("after".utf8), partitionKey: "p")
        #expect(try await kinesis.getRecords(iterator: latest).records.map { String(decoding: $0.data, as: UTF8.self) } == ["after"])
    }

    @Test func putRecordsDescribeReshardAndConsumers() async throws {
        let kinesis = try await Moto.client()
        let name = Moto.uniqueStream("api-ops")
        try await kinesis.createStream(name, shardCount: 2)
        let stream = StreamIdentifier.name(name)
        #expect(try await kinesis.listStreams().contains(name))

        let summary = try await kinesis.describeStreamSummary(stream)
        #expect(summary.streamName == name)
        #expect(summary.streamStatus == .active)
        #expect(summary.openShardCount == 2)
        #expect(summary.streamMode == .provisioned)

        let entries = (0..<10).map { PutRecordsEntry(data: Array("e\($0)".utf8), partitionKey: "k\($0)", explicitHashKey: $0 == 0 ? UInt128.max - 1 : nil) }
        let put = try await kinesis.putRecords(stream, entries: entries)
        #expect(put.failedRecordCount == 0)
        #expect(put.results.count == 10)
        // The explicit hash key 2^128 - 2 routes to the second shard, which owns the top half. (moto
        // matches no shard for a shard's ending hash key itself, 2^128 - 1.)
        let shards = try await kinesis.listShards(stream)
        #expect(shards.count == 2)
        #expect(shards[1].hashKeyRange.contains(UInt128.max))
        if case .success(let shardID, _) = put.results[0] { #expect(shardID == shards[1].shardID) } else { Issue.record("entry 0 failed") }

        // Addressed by ARN, as the API allows (GetRecords takes the ARN again).
        let arn = StreamIdentifier.arn(summary.streamARN)
        let iterator = try await kinesis.getShardIterator(arn, shardID: shards[0].shardID, position: .trimHorizon)
        let byARN = try await kinesis.getRecords(iterator: iterator, streamARN: summary.streamARN)
        #expect(byARN.records.count == put.results.filter { if case .success(shards[0].shardID, _) = $0 { true } else { false } }.count)

        try await kinesis.splitShard(stream, shardID: shards[0].shardID, newStartingHashKey: UInt128(1) << 126)
        let afterSplit = try await kinesis.listShards(stream)
        #expect(afterSplit.count == 4)
        #expect(afterSplit.filter { $0.parentShardID == shards[0].shardID }.count == 2)
        #expect(afterSplit.first { $0.shardID == shards[0].shardID }?.isClosed == true)
        let children = afterSplit.filter { $0.parentShardID == shards[0].shardID }
        #expect(children.map(\.hashKeyRange.startingHashKey).sorted() == [0, UInt128(1) << 126])
        try await kinesis.mergeShards(stream, shardID: children[0].shardID, adjacentShardID: children[1].shardID)
        let afterMerge = try await kinesis.listShards(stream, filter: .fromTrimHorizon)
        #expect(afterMerge.contains { $0.parentShardID == children[0].shardID && $0.adjacentParentShardID == children[1].shardID })
        let scaled = try await kinesis.updateShardCount(stream, targetShardCount: 4)
        #expect(scaled.target == 4)

        let consumer = try await kinesis.registerStreamConsumer(streamARN: summary.streamARN, consumerName: "fan-out")
        #expect(consumer.consumerName == "fan-out")
        #expect(try await kinesis.listStreamConsumers(streamARN: summary.streamARN).map(\.consumerName) == ["fan-out"])
        #expect(try await kinesis.describeStreamConsumer(streamARN: summary.streamARN, consumerName: "fan-out").consumerARN == consumer.consumerARN)
        try await kinesis.deregisterStreamConsumer(consumerARN: consumer.consumerARN)

        try await kinesis.deleteStream(stream, enforceConsumerDeletion: true)
        let onDemand = Moto.uniqueStream("api-on-demand")
        try await kinesis.createStream(onDemand, shardCount: nil, mode: .onDemand)
        #expect(try await kinesis.describeStreamSummary(.name(onDemand)).streamMode == .onDemand)
        try await kinesis.deleteStream(.name(onDemand))
        let error = await #expect(throws: AWSError.self) { _ = try await kinesis.describeStreamSummary(stream) }
        #expect(error?.code == .resourceNotFound)
    }
}
