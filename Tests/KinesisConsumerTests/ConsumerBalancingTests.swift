import Foundation
import KinesisAPI
import KinesisConsumer
import KinesisLeases
import KinesisTestKit
import Testing

/// Several consumer instances of one application in one process, sharing an in-memory lease table
/// (the DynamoDB and SQLite stores pass the same conformance suite): balance, failover after a
/// kill, immediate handover after a clean stop.
@Suite struct ConsumerBalancingTests {
    static func owners(_ store: InMemoryLeaseStore) async throws -> [String: Int] {
        var owners: [String: Int] = [:]
        for lease in try await store.leases() { owners[lease.owner ?? "none", default: 0] += 1 }
        return owners
    }

    /// Starts a consumer whose user loop records and checkpoints every envelope.
    static func start(_ kinesis: KinesisClient, _ store: InMemoryLeaseStore, _ worker: String, into collected: Collected) -> (Running, Task<Void, any Error>) {
        var configuration = Fixture.configuration(store, worker: worker)
        configuration.checkpointing = .every(records: 1)
        // Long enough that a test run loading both cores (the whole suite runs in parallel, with
        // moto, boto3 and `kinesis` child processes) never delays a renewal past it: a lease that
        // looks expired moves, and under sustained load leases can keep moving instead of settling.
        configuration.leases.failoverTime = .seconds(5)
        let consumer = KinesisConsumer(stream: "shared", application: "app", kinesis: kinesis, configuration: configuration)
        let running = Running(consumer)
        let loop = Task {
            for try await envelope in consumer.envelopes { collected.append(Seen(envelope)) }
        }
        return (running, loop)
    }

    @Test func twoThenThreeInstancesEndBalanced() async throws {
        let simulator = SimulatedKinesis()
        let kinesis = simulator.client()
        try await Fixture.stream(kinesis, "shared", shards: 6)
        let store = InMemoryLeaseStore()
        let collected = Collected()
        let (a, loopA) = Self.start(kinesis, store, "a", into: collected)
        try await eventually("a holds every shard", within: .seconds(60)) { try await Self.owners(store) == ["a": 6] }
        let (b, loopB) = Self.start(kinesis, store, "b", into: collected)
        try await eventually("a and b hold three each", within: .seconds(60)) { try await Self.owners(store) == ["a": 3, "b": 3] }
        let (c, loopC) = Self.start(kinesis, store, "c", into: collected)
        try await eventually("two each", within: .seconds(60)) { try await Self.owners(store) == ["a": 2, "b": 2, "c": 2] }
        // Records written now are all read, by the instance holding their shard.
        let written = try await Fixture.put(kinesis, "shared", "r", count: 300)
        try await eventually("every record", within: .seconds(60)) { Set(collected.all.map(\.text)).count >= written.count }
        #expect(Set(collected.all.map(\.text)) == Set(written))
        // Still balanced: nothing moved while they were read.
        #expect(try await Self.owners(store) == ["a": 2, "b": 2, "c": 2])
        for running in [a, b, c] { try await running.stop() }
        for loop in [loopA, loopB, loopC] { _ = try? await loop.value }
    }

    @Test func aKilledInstancesShardsAreTakenOverAfterItsLastCheckpoint() async throws {
        let simulator = SimulatedKinesis()
        let kinesis = simulator.client()
        try await Fixture.stream(kinesis, "shared", shards: 2)
        let store = InMemoryLeaseStore()
        let first = Collected()
        let (a, loopA) = Self.start(kinesis, store, "a", into: first)
        try await eventually("a holds both", within: .seconds(60)) { try await Self.owners(store) == ["a": 2] }
        let before = try await Fixture.put(kinesis, "shared", "before", count: 100)
        try await eventually("a read them", within: .seconds(60)) { first.count >= before.count }
        // a checkpoints what it moved past: all but the last envelope of the last batch of each
        // shard; wait until both shards have checkpoints.
        try await eventually("checkpoints written", within: .seconds(60)) { try await store.leases().allSatisfy { $0.checkpoint.sequenceNumber != nil } }
        let checkpoints = Dictionary(uniqueKeysWithValues: try await store.leases().map { ($0.leaseKey, $0.checkpoint) })
        await a.kill()
        loopA.cancel()
        // Nothing was released: the leases still name a.
        #expect(try await Self.owners(store) == ["a": 2])
        let second = Collected()
        let (b, loopB) = Self.start(kinesis, store, "b", into: second)
        let after = try await Fixture.put(kinesis, "shared", "after", count: 100)
        try await eventually("b took over and read the new records", within: .seconds(60)) { second.all.filter { $0.text.hasPrefix("after") }.count >= after.count }
        #expect(try await Self.owners(store) == ["b": 2])
        // b resumed right after a's checkpoints: nothing at or before them, nothing lost.
        for record in second.all {
            let checkpoint = try #require(checkpoints[record.shardID])
            let sequence = try #require(checkpoint.sequenceNumber)
            #expect(record.sequenceNumber > sequence || (record.sequenceNumber == sequence && record.subSequenceNumber > checkpoint.subSequenceNumber))
        }
        let union = Set(first.all.map(\.text)).union(second.all.map(\.text))
        #expect(union == Set(before + after))
        try await b.stop()
        _ = try? await loopB.value
    }

    @Test func aCleanlyStoppedInstancesShardsMoveAtOnce() async throws {
        let simulator = SimulatedKinesis()
        let kinesis = simulator.client()
        try await Fixture.stream(kinesis, "shared", shards: 4)
        let store = InMemoryLeaseStore()
        let collected = Collected()
        let (a, loopA) = Self.start(kinesis, store, "a", into: collected)
        let (b, loopB) = Self.start(kinesis, store, "b", into: collected)
        try await eventually("balanced", within: .seconds(60)) { try await Self.owners(store) == ["a": 2, "b": 2] }
        try await a.stop()
        _ = try? await loopA.value
        // Released, not left to expire: no lease names a any more.
        #expect(try await Self.owners(store)["a"] == nil)
        // b picks them up within a scan (a third of the failover time), not after the failover time.
        try await eventually("b holds all four", within: .seconds(60)) { try await Self.owners(store) == ["b": 4] }
        try await b.stop()
        _ = try? await loopB.value
    }
}
