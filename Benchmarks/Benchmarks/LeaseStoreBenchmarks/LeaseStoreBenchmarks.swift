import AWSCore
import Benchmark
import DynamoDBAPI
import Foundation
import KinesisAPI
import KinesisLeases

/// Checkpoints per second: each iteration is one fenced checkpoint write of a held lease.
func checkpointBenchmark(_ name: String, _ makeStore: @escaping @Sendable () async throws -> any LeaseStore) {
    Benchmark(name, configuration: .init(metrics: [.throughput, .wallClock, .mallocCountTotal], warmupIterations: 5, maxDuration: .seconds(5), maxIterations: 20_000)) { benchmark in
        let store = try await makeStore()
        try await store.prepare()
        _ = try await store.createIfAbsent(Lease(leaseKey: "shardId-000000000000"))
        var lease = try await store.take(try await store.lease("shardId-000000000000")!, owner: "bench")
        var sequence = 1
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            sequence += 1
            lease = try await store.checkpoint(lease, .at(SequenceNumber("\(sequence)")!))
        }
        benchmark.stopMeasurement()
    }
}

let benchmarks: @Sendable () -> Void = {
    checkpointBenchmark("Checkpoint, in-memory store") { InMemoryLeaseStore() }
    checkpointBenchmark("Checkpoint, SQLite store on disk (WAL, synchronous=FULL)") {
        try await SQLiteLeaseStore(path: FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID().uuidString).sqlite").path)
    }
    // DynamoDB through the local moto server, when `scripts/bench` started one.
    if let endpoint = ProcessInfo.processInfo.environment["KINESIS_TEST_MOTO_ENDPOINT"] {
        checkpointBenchmark("Checkpoint, DynamoDB store (moto on 127.0.0.1)") {
            var configuration = AWSConfiguration(region: .usEast1, endpoint: endpoint, credentialProvider: StaticCredentialProvider.static(accessKeyID: "bench", secretAccessKey: "bench"))
            configuration.environment = AWSEnvironment([:])
            return DynamoDBLeaseStore(dynamoDB: try await DynamoDBClient(configuration: configuration), tableName: "bench-\(UUID().uuidString.prefix(8))")
        }
    }
}
