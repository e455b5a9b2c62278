import AWSCore
import DynamoDBAPI
import Foundation
import IntegrationSupport
import KinesisAPI
import KinesisConsumer
import KinesisLeases
import Testing

/// The consumer against the moto server: Kinesis over HTTP, leases in a DynamoDB table (KCL's
/// format), records written by boto3 (aggregates built by aws-kinesis-agg) and read back by boto3
/// as the reference. `scripts/test` starts the server.
@Suite struct ConsumerMotoTests {
    static func configuration(table: String, worker: String) throws -> KinesisConsumer.Configuration {
        var configuration = KinesisConsumer.Configuration()
        configuration.aws = AWSConfiguration(
            region: .usEast1, endpoint: try Moto.endpoint(),
            credentialProvider: StaticCredentialProvider.static(accessKeyID: "AKIDTEST", secretAccessKey: "test-secret")
        )
        configuration.aws.environment = AWSEnvironment([:])
        configuration.leaseStorage = .dynamoDB(table: table)
        configuration.workerID = worker
        configuration.initialPosition = .trimHorizon
        configuration.polling.idleTimeBetweenReads = .milliseconds(100)
        configuration.leases.failoverTime = .seconds(3)
        configuration.shutdownGracePeriod = .seconds(5)
        return configuration
    }

    @Test(arguments: [1, 4, 16])
    func boto3WritesEveryRecordIsDeliveredOnceWithItsFields(shards: Int) async throws {
        let endpoint = try Moto.endpoint()
        let kinesis = try await Moto.client()
        let stream = Moto.uniqueStream("consumer-\(shards)")
        try await kinesis.createStream(stream, shardCount: shards)
        // Plain records, and aggregates of 8 user records (half with explicit hash keys spread over
        // the hash-key space, the first at 0).
        let plain = (0..<(20 * shards)).map { Peer.UserRecordJSON(pk: "key-\($0)", data: Data("plain-\($0)".utf8).base64EncodedString()) }
        let aggregated = (0..<(2 * shards)).map { group in
            (0..<8).map { index in
                Peer.UserRecordJSON(
                    pk: "agg-\(group)-\(index)", data: Data("agg-\(group)-\(index)".utf8).base64EncodedString(),
                    ehk: index % 2 == 0 ? String(UInt128(index) << 125 + UInt128(group)) : nil
                )
            }
        }
        _ = try await Peer.run(["write", "--endpoint", endpoint, "--stream", stream], input: Peer.WriteSpec(plain: plain, aggregated: aggregated), as: [Peer.PutResult].self)
        // boto3 and aws-kinesis-agg's view of the stream is the reference.
        let reference = try await Peer.userRecords(endpoint: endpoint, stream: stream)
        #expect(reference.count == plain.count + 8 * aggregated.count)

        let table = "leases-\(stream)"
        let consumer = KinesisConsumer(stream: stream, application: "app", configuration: try Self.configuration(table: table, worker: "w1"))
        let run = Task { try await consumer.run() }
        let seen = try await consume(consumer, count: reference.count, checkpointLast: true)
        consumer.triggerGracefulShutdown()
        try await run.value

        #expect(Set(seen) == Set(reference))
        // Sub-records whose hash key (explicit, or the MD5 of the partition key) is outside their
        // aggregate's shard are delivered and counted, not dropped.
        let ranges = Dictionary(uniqueKeysWithValues: try await kinesis.listShards(.name(stream)).map { ($0.shardID, $0.hashKeyRange) })
        let outside = reference.filter { record in
            guard record.partitionKey.hasPrefix("agg-"), let range = ranges[record.shardID] else { return false }
            let hashKey = record.explicitHashKey.flatMap { UInt128($0) } ?? HashKey.of(partitionKey: record.partitionKey)
            return !range.contains(hashKey)
        }
        #expect(consumer.statistics.recordsOutsideShardRange == outside.count)
        #expect(shards == 1 ? outside.isEmpty : !outside.isEmpty)
        #expect(seen.count == reference.count)
        // Per-shard order is the order boto3 read them in.
        for shard in Set(reference.map(\.shardID)) {
            #expect(seen.filter { $0.shardID == shard } == reference.filter { $0.shardID == shard })
        }
        // The checkpoints are in the DynamoDB table (KCL's format), released at shutdown.
        var dynamoConfiguration = AWSConfiguration(region: .usEast1, endpoint: endpoint, credentialProvider: StaticCredentialProvider.static(accessKeyID: "AKIDTEST", secretAccessKey: "test-secret"))
        dynamoConfiguration.environment = AWSEnvironment([:])
        let store = DynamoDBLeaseStore(dynamoDB: try await DynamoDBClient(configuration: dynamoConfiguration), tableName: table)
        let leases = try await store.leases()
        #expect(leases.count == shards)
        for lease in leases {
            #expect(lease.owner == nil)
            let last = reference.filter { $0.shardID == lease.leaseKey }.last
            #expect(lease.checkpoint.value == (last?.sequenceNumber ?? "TRIM_HORIZON"))
            #expect(lease.checkpoint.subSequenceNumber == (last?.subSequenceNumber ?? 0))
        }

        // A restart on the same table delivers only what is written after the checkpoints.
        let more = (0..<10).map { Peer.UserRecordJSON(pk: "late-\($0)", data: Data("late-\($0)".utf8).base64EncodedString()) }
        _ = try await Peer.run(["write", "--endpoint", endpoint, "--stream", stream], input: Peer.WriteSpec(plain: more, aggregated: []), as: [Peer.PutResult].self)
        let again = KinesisConsumer(stream: stream, application: "app", configuration: try Self.configuration(table: table, worker: "w2"))
        let run2 = Task { try await again.run() }
        let late = try await consume(again, count: more.count, checkpointLast: false)
        again.triggerGracefulShutdown()
        try await run2.value
        #expect(Set(late.map(\.partitionKey)) == Set(more.map(\.pk)))
    }
}
