import AWSCore
import DynamoDBAPI
import Foundation
import IntegrationSupport
import KinesisAPI
import KinesisConsumer
import KinesisLeases
import Testing

/// A Samza properties file, written like Samza's documentation's example, consumed from the moto
/// server: the default table `<job.name>-<job.id>-<stream>`, and `TableName` with
/// `InitialPositionInStream` resetting the checkpoints.
@Suite struct SamzaMotoTests {
    /// Samza's documentation's example, with the placeholders replaced.
    static func properties(stream: String, extra: String) -> String {
        """
        // Define a Kinesis system factory with your identifier. eg: kinesis-system
        systems.kinesis-system.samza.factory=org.apache.samza.system.kinesis.KinesisSystemFactory

        // Kinesis consumer works with only AllSspToSingleTaskGrouperFactory
        job.systemstreampartition.grouper.factory=org.apache.samza.container.grouper.stream.AllSspToSingleTaskGrouperFactory

        // Define your streams
        task.inputs=kinesis-system.\(stream)

        // Define required properties for your streams
        systems.kinesis-system.streams.\(stream).aws.region=us-east-1
        systems.kinesis-system.streams.\(stream).aws.accessKey=AKIDTEST
        sensitive.systems.kinesis-system.streams.\(stream).aws.secretKey=test-secret

        job.name=samza-job
        job.id=3
        \(extra)
        """
    }

    static func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("samza-\(UUID().uuidString).properties").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func leases(table: String) async throws -> [Lease] {
        var configuration = AWSConfiguration(
            region: .usEast1, endpoint: try Moto.endpoint(),
            credentialProvider: StaticCredentialProvider.static(accessKeyID: "AKIDTEST", secretAccessKey: "test-secret")
        )
        configuration.environment = AWSEnvironment([:])
        return try await DynamoDBLeaseStore(dynamoDB: DynamoDBClient(configuration: configuration), tableName: table).leases()
    }

    static func putPlain(_ stream: String, _ keys: [String]) async throws {
        let records = keys.map { Peer.UserRecordJSON(pk: $0, data: Data("data-\($0)".utf8).base64EncodedString()) }
        _ = try await Peer.run(["write", "--endpoint", try Moto.endpoint(), "--stream", stream], input: Peer.WriteSpec(plain: records, aggregated: []), as: [Peer.PutResult].self)
    }

    @Test func theDocumentationsFileConsumesAndTableNameWithInitialPositionResetsCheckpoints() async throws {
        let kinesis = try await Moto.client()
        let stream = Moto.uniqueStream("samza")
        try await kinesis.createStream(stream, shardCount: 2)
        let early = (0..<20).map { "early-\($0)" }
        try await Self.putPlain(stream, early)
        // Endpoints from the environment only: the file has none, as a Samza file has none.
        let environment = AWSEnvironment(["AWS_ENDPOINT_URL": try Moto.endpoint()])

        // 1. The file as documented, starting at TRIM_HORIZON: every record, checkpoints in
        //    `samza-job-3-<stream>`.
        let first = try Self.write(Self.properties(stream: stream, extra: """
            systems.kinesis-system.streams.\(stream).aws.kcl.InitialPositionInStream=TRIM_HORIZON
            systems.kinesis-system.streams.\(stream).aws.kcl.idleTimeBetweenReadsInMillis=200
            """))
        let job = try await SamzaKinesisConfiguration.load(contentsOf: first, environment: environment)
        let consumer = try job.makeConsumer(stream: stream)
        #expect(consumer.application == "samza-job-3-\(stream)")
        let run = Task { try await consumer.run() }
        let seen = try await consume(consumer, count: early.count, checkpointLast: true)
        consumer.triggerGracefulShutdown()
        try await run.value
        #expect(Set(seen.map(\.partitionKey)) == Set(early))
        let defaultTable = try await Self.leases(table: "samza-job-3-\(stream)")
        #expect(defaultTable.count == 2)
        for lease in defaultTable {
            #expect(lease.checkpoint.sequenceNumber == seen.last { $0.shardID == lease.leaseKey }.flatMap { SequenceNumber($0.sequenceNumber) })
        }

        // 2. A new TableName and LATEST: the old records are not read again, only what is written
        //    once the new consumer holds its shards.
        let resetTable = "reset-\(stream)"
        let second = try Self.write(Self.properties(stream: stream, extra: """
            systems.kinesis-system.streams.\(stream).aws.kcl.TableName=\(resetTable)
            systems.kinesis-system.streams.\(stream).aws.kcl.InitialPositionInStream=LATEST
            systems.kinesis-system.streams.\(stream).aws.kcl.idleTimeBetweenReadsInMillis=200
            """))
        let reset = try await SamzaKinesisConfiguration.load(contentsOf: second, environment: environment).makeConsumer(stream: stream)
        let run2 = Task { try await reset.run() }
        // Both shards fetched from LATEST at least once (bounded wait).
        for _ in 0..<300 where reset.statistics.getRecordsCalls < 4 { try await Task.sleep(for: .milliseconds(50)) }
        #expect(reset.statistics.getRecordsCalls >= 4)
        let late = (0..<6).map { "late-\($0)" }
        try await Self.putPlain(stream, late)
        let seenAfterReset = try await consume(reset, count: late.count, checkpointLast: true)
        // Nothing more than the late records comes within a few more polls.
        try await Task.sleep(for: .milliseconds(600))
        #expect(reset.statistics.recordsDelivered <= late.count)
        reset.triggerGracefulShutdown()
        try await run2.value
        #expect(seenAfterReset.map(\.partitionKey).sorted() == late.sorted())
        #expect(try await Self.leases(table: resetTable).count == 2)
        // The first table is untouched by the second consumer.
        #expect(try await Self.leases(table: "samza-job-3-\(stream)").map(\.checkpoint).sorted { $0.value < $1.value }
            == defaultTable.map(\.checkpoint).sorted { $0.value < $1.value })
    }
}
