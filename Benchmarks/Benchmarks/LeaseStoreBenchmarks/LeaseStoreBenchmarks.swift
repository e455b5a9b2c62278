import AWSCore
import Benchmark
import DynamoDBAPI
import Foundation
import KinesisAPI
import KinesisLeases

/// One store and one held lease per benchmark, made on its first sample and kept for the others.
actor HeldLeases {
    static let shared = HeldLeases()
    private var held: [String: (any LeaseStore, Lease, Int)] = [:]

    func checkpoint(_ name: String, _ makeStore: @Sendable () async throws -> any LeaseStore) async throws {
        var entry: (any LeaseStore, Lease, Int)
        if let existing = held[name] {
            entry = existing
        } else {
            entry = try await open(makeStore)
        }
        var (store, lease, sequence) = entry
        sequence += 1
        lease = try await store.checkpoint(lease, .at(SequenceNumber("\(sequence)")!))
        held[name] = (store, lease, sequence)
    }

    private func open(_ makeStore: @Sendable () async throws -> any LeaseStore) async throws -> (any LeaseStore, Lease, Int) {
        let store = try await makeStore()
        try await store.prepare()
        _ = try await store.createIfAbsent(Lease(leaseKey: "shardId-000000000000"))
        return (store, try await store.take(try await store.lease("shardId-000000000000")!, owner: "bench"), 0)
    }
}

/// Checkpoints per second: each iteration is one fenced checkpoint write of a held lease.
func checkpointBenchmark(_ name: String, _ makeStore: @escaping @Sendable () async throws -> any LeaseStore) {
    Benchmark(name, configuration: .init(metrics: [.throughput, .wallClock, .mallocCountTotal], warmupIterations: 5, maxDuration: .seconds(5), maxIterations: 20_000)) { benchmark in
        for _ in benchmark.scaledIterations {
            try await HeldLeases.shared.checkpoint(name, makeStore)
        }
    }
}

let benchmarks: @Sendable () -> Void = {
    checkpointBenchmark("Checkpoint, in-memory store") { InMemoryLeaseStore() }
    checkpointBenchmark("Checkpoint, SQLite store on disk (WAL, synchronous=FULL)") {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lease-benchmark.sqlite").path
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        return try await SQLiteLeaseStore(path: path)
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
