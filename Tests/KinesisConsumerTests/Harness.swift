import AWSCore
import Foundation
import KinesisAPI
import KinesisConsumer
import KinesisLeases
import KinesisTestKit
import Synchronization
import Testing

/// A time limit on a test step: the step's task is cancelled and the test fails with `what`.
struct TimedOut: Error, CustomStringConvertible {
    var description: String
}

func within<T: Sendable>(_ limit: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw TimedOut(description: "timed out after \(limit): \(what)") }
        return value
    }
}

/// Polls `condition` every 20 ms until it holds or `limit` passes.
func eventually(_ what: String, within limit: Duration = .seconds(20), _ condition: @escaping @Sendable () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw TimedOut(description: "timed out after \(limit): \(what)")
}

/// A consumer's `run()` in a task of its own (a test's stand-in for a service group).
final class Running: Sendable {
    let consumer: KinesisConsumer
    private let task: Task<Void, any Error>

    init(_ consumer: KinesisConsumer) {
        self.consumer = consumer
        task = Task { try await consumer.run() }
    }

    /// Graceful shutdown, and the end of `run()`.
    func stop() async throws {
        consumer.triggerGracefulShutdown()
        try await within(.seconds(20), "graceful shutdown") { try await self.task.value }
    }

    /// A crash: the task is cancelled, nothing is released.
    func kill() async {
        task.cancel()
        _ = try? await task.value
    }

    var result: Task<Void, any Error> { task }
}

/// A user record as the tests compare them.
struct Seen: Hashable, Sendable, CustomStringConvertible {
    var shardID: String
    var sequenceNumber: SequenceNumber
    var subSequenceNumber: UInt64
    var partitionKey: String
    var data: [UInt8]
    var explicitHashKey: UInt128?

    init(_ envelope: Envelope) {
        shardID = envelope.shardID
        sequenceNumber = envelope.sequenceNumber
        subSequenceNumber = envelope.subSequenceNumber
        partitionKey = envelope.partitionKey
        data = Array(envelope.data)
        explicitHashKey = envelope.explicitHashKey
    }

    var text: String { String(decoding: data, as: UTF8.self) }
    var description: String { "\(shardID)/\(sequenceNumber)/\(subSequenceNumber):\(text)" }
}

/// Collects what a user loop saw, across tasks.
final class Collected: Sendable {
    private let state = Mutex<[Seen]>([])
    func append(_ seen: Seen) { state.withLock { $0.append(seen) } }
    var all: [Seen] { state.withLock { $0 } }
    var count: Int { state.withLock { $0.count } }
}

enum Fixture {
    /// Settings that keep the scenario tests short: fast polling and failover.
    static func configuration(_ store: any LeaseStore, worker: String, from position: KinesisConsumer.InitialPosition = .trimHorizon) -> KinesisConsumer.Configuration {
        var configuration = KinesisConsumer.Configuration()
        configuration.leaseStorage = .store(store)
        configuration.workerID = worker
        configuration.initialPosition = position
        configuration.polling.idleTimeBetweenReads = .milliseconds(20)
        configuration.polling.backoffBase = .milliseconds(5)
        configuration.polling.maxBackoff = .milliseconds(50)
        configuration.leases.failoverTime = .milliseconds(600)
        configuration.leases.shardSyncInterval = .milliseconds(200)
        configuration.shutdownGracePeriod = .seconds(5)
        return configuration
    }

    static func stream(_ kinesis: KinesisClient, _ name: String, shards: Int) async throws {
        try await kinesis.createStream(name, shardCount: shards)
    }

    /// Writes `count` plain records `"<prefix>-<i>"` with partition keys spread over the shards.
    @discardableResult
    static func put(_ kinesis: KinesisClient, _ stream: String, _ prefix: String, count: Int, keys: Int = 64) async throws -> [String] {
        var written: [String] = []
        var index = 0
        while index < count {
            let batch = (index..<min(count, index + 500)).map { i in
                PutRecordsEntry(data: Array("\(prefix)-\(i)".utf8), partitionKey: "key-\(i % keys)")
            }
            let output = try await kinesis.putRecords(.name(stream), entries: batch)
            #expect(output.failedRecordCount == 0)
            written += batch.map { String(decoding: $0.data, as: UTF8.self) }
            index += batch.count
        }
        return written
    }

    /// Checks per-shard order: within each shard, (sequence, sub-sequence) strictly increase.
    static func expectShardOrder(_ seen: [Seen], sourceLocation: SourceLocation = #_sourceLocation) {
        var last: [String: (SequenceNumber, UInt64)] = [:]
        for record in seen {
            if let (sequence, sub) = last[record.shardID] {
                #expect(sequence < record.sequenceNumber || (sequence == record.sequenceNumber && sub < record.subSequenceNumber), "out of order in \(record.shardID): \(record)", sourceLocation: sourceLocation)
            }
            last[record.shardID] = (record.sequenceNumber, record.subSequenceNumber)
        }
    }
}
