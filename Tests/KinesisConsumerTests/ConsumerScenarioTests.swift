import AWSCore
import Foundation
import KinesisAPI
import KinesisConsumer
import KinesisLeases
import KinesisTestKit
import Testing

/// The consumer runtime end to end on `KinesisTestKit` (a real `KinesisClient` over the in-process
/// Kinesis) with the in-memory lease store: delivery, checkpoints and restarts, start positions,
/// resharding, iterator expiry, throttling, backpressure, lost leases.
@Suite struct ConsumerScenarioTests {
    @Test func everyRecordOnceInShardOrderPlainAndAggregated() async throws {
        let simulator = SimulatedKinesis()
        let kinesis = simulator.client()
        try await Fixture.stream(kinesis, "orders", shards: 4)
        let plain = try await Fixture.put(kinesis, "orders", "plain", count: 300)
        // Aggregates of 10 user records each, some with explicit hash keys.
        var aggregated: [String] = []
        for batch in 0..<20 {
            var builder = AggregatedRecordBuilder()
            for index in 0..<10 {
                let text = "agg-\(batch)-\(index)"
                let hashKey: UInt128? = index % 3 == 0 ? UInt128(index) << 100 : nil
                let appended = builder.append(UserRecord(partitionKey: "agg-key-\(index)", explicitHashKey: hashKey, data: ArraySlice(text.utf8)))
                #expect(appended)
                aggregated.append(text)
            }
            _ = try await kinesis.putRecord(.name("orders"), data: builder.build(), partitionKey: "outer-\(batch)")
        }
        let expected = plain + aggregated
        let store = InMemoryLeaseStore()
        let consumer = KinesisConsumer(stream: "orders", application: "billing", kinesis: kinesis, configuration: Fixture.configuration(store, worker: "w1"))
        let running = Running(consumer)
        let seen = try await within(.seconds(30), "reading every record") {
            var seen: [Seen] = []
            for try await envelope in consumer.envelopes {
                seen.append(Seen(envelope))
                if seen.count == expected.count { break }
            }
            return seen
        }
        try await running.stop()
        #expect(seen.map(\.text).sorted() == expected.sorted())
        #expect(Set(seen).count == seen.count)
        Fixture.expectShardOrder(seen)
        let subRecords = seen.filter { $0.text.hasPrefix("agg-") }
        #expect(subRecords.allSatisfy { $0.partitionKey.hasPrefix("agg-key-") })
        #expect(subRecords.filter { $0.explicitHashKey != nil }.count == 20 * 4)
        // Nothing was checkpointed; the leases were released at shutdown.
        let leases = try await store.leases()
        #expect(leases.count == 4)
        #expect(leases.allSatisfy { $0.owner == nil && $0.checkpoint == .trimHorizon })
    }

    @Test func restartResumesRightAfterTheCheckpointInsideAnAggregate() async throws {
        let simulator = SimulatedKinesis()
        let kinesis = simulator.client()
        try await Fixture.stream(kinesis, "orders", shards: 1)
        var builder = AggregatedRecordBuilder()
        for index in 0..<10 { _ = builder.append(UserRecord(partitionKey: "k\(index)", data: ArraySlice("sub-\(index)".utf8))) }
        _ = try await kinesis.putRecord(.name("orders"), data: builder.build(), partitionKey: "outer")
        try await Fixture.put(kinesis, "orders", "plain", count: 5)
        let store = InMemoryLeaseStore()

        // First run: checkpoint the 4th sub-record (sub-sequence 3), then shut down.
        let first = KinesisConsumer(stream: "orders", application: "app", kinesis: kinesis, configuration: Fixture.configuration(store, worker: "w1"))
        let running = Running(first)
        let firstSeen = try await within(.seconds(20), "first run") {
            var seen: [Seen] = []
            for try await envelope in first.envelopes {
                seen.append(Seen(envelope))
                if envelope.subSequenceNumber == 3 {
                    try await envelope.checkpoint()
                    break
                }
            }
            return seen
        }
        try await running.stop()
        #expect(firstSeen.map(\.text) == ["sub-0", "sub-1", "sub-2", "sub-3"])
        let lease = try #require(try await store.lease("shardId-000000000000"))
        #expect(lease.checkpoint.subSequenceNumber == 3)
        #expect(lease.owner == nil)

        // Second run (another worker): from sub-4 on, nothing before, no gap.
        let second = KinesisConsumer(stream: "orders", application: "app", kinesis: kinesis, configuration: Fixture.configuration(store, worker: "w2"))
        let running2 = Running(second)
        let secondSeen = try await within(.seconds(20), "second run") {
            var seen: [Seen] = []
            for try await envelope in second.envelopes {
                seen.append(Seen(envelope))
                if seen.count == 11 { break }
            }
            return seen
        }
        try await running2.stop()
        #expect(secondSeen.map(\.text) == (4..<10).map { "sub-\($0)" } + (0..<5).map { "plain-\($0)" })
    }

    @Test(arguments: ["trimHorizon", "latest", "atTimestamp"])
    func startPositions(_ position: String) async throws {
        let clock = ManualClock()
        let simulator = SimulatedKinesis(clock: clock)
        let kinesis = simulator.client()
        try await Fixture.stream(kinesis, "events", shards: 2)
        try await Fixture.put(kinesis, "events", "old", count: 20)
        clock.advance(by: .seconds(60))
        let middle = clock.now
        clock.advance(by: .seconds(60))
        try await Fixture.put(kinesis, "events", "mid", count: 20)
        let initial: KinesisConsumer.InitialPosition = switch position {
        case "trimHorizon": .trimHorizon
        case "latest": .latest
        default: .atTimestamp(middle)
        }
        let store = InMemoryLeaseStore()
        let consumer = KinesisConsumer(stream: "events", application: "app", kinesis: kinesis, configuration: Fixture.configuration(store, worker: "w", from: initial))
        let running = Running(consumer)
        // LATEST starts where each shard's iterator is taken: wait until both shards are held
        // and polled before writing the new records.
        try await eventually("both shards polled") { consumer.statistics.millisBehindLatest.count == 2 }
        try await Fixture.put(kinesis, "events", "new", count: 20)
        let expected = position == "trimHorizon" ? 60 : position == "latest" ? 20 : 40
        let seen = try await within(.seconds(20), "reading") {
            var seen: [Seen] = []
            for try await envelope in consumer.envelopes {
                seen.append(Seen(envelope))
                if seen.count == expected { break }
            }
            return seen
        }
        try await running.stop()
        let prefixes = Set(seen.map { String($0.text.split(separator: "-")[0]) })
        switch position {
        case "trimHorizon": #expect(prefixes == ["old", "mid", "new"])
        case "latest": #expect(prefixes == ["new"])
        default: #expect(prefixes == ["mid", "new"])
        }
        #expect(seen.count == expected)
    }

    @Test func splitAndMergeWhileConsumingKeepParentsBeforeChildren() async throws {
        let simulator = SimulatedKinesis()
        let kinesis = simulator.client()
        try await Fixture.stream(kinesis, "resharded", shards: 2)
        var written = try await Fixture.put(kinesis, "resharded", "a", count: 200)
        let store = InMemoryLeaseStore()
        var configuration = Fixture.configuration(store, worker: "w")
        configuration.checkpointing = .every(records: 1)
        let consumer = KinesisConsumer(stream: "resharded", application: "app", kinesis: kinesis, configuration: configuration)
        let running = Running(consumer)
        let collected = Collected()
        let reader = Task {
            for try await envelope in consumer.envelopes { collected.append(Seen(envelope)) }
        }
        try await eventually("first records") { collected.count >= 50 }
        // Split shard 0 in the middle of its range, write; merge the two children, write.
        let shards = try await kinesis.listShards(.name("resharded"))
        let range = shards[0].hashKeyRange
        try await kinesis.splitShard(.name("resharded"), shardID: shards[0].shardID, newStartingHashKey: range.startingHashKey + (range.endingHashKey - range.startingHashKey) / 2)
        written += try await Fixture.put(kinesis, "resharded", "b", count: 200)
        let afterSplit = try await kinesis.listShards(.name("resharded")).filter { !$0.isClosed }.sorted { $0.hashKeyRange.startingHashKey < $1.hashKeyRange.startingHashKey }
        try await kinesis.mergeShards(.name("resharded"), shardID: afterSplit[0].shardID, adjacentShardID: afterSplit[1].shardID)
        written += try await Fixture.put(kinesis, "resharded", "c", count: 200)
        let total = written.count
        try await eventually("every record", within: .seconds(30)) { collected.count >= total }
        try await running.stop()
        _ = try? await reader.value
        let seen = collected.all
        #expect(seen.map(\.text).sorted() == written.sorted())
        Fixture.expectShardOrder(seen)
        // Parents before children: every record of a child comes after the last of each parent.
        let all = try await kinesis.listShards(.name("resharded"))
        let position = Dictionary(seen.enumerated().map { ($0.element.shardID, $0.offset) }, uniquingKeysWith: max)
        let firstPosition = Dictionary(seen.enumerated().map { ($0.element.shardID, $0.offset) }, uniquingKeysWith: min)
        var checkedChildren = 0
        for shard in all {
            guard let childFirst = firstPosition[shard.shardID] else { continue }
            for parent in shard.parentShardIDs {
                if let parentLast = position[parent] {
                    #expect(parentLast < childFirst, "child \(shard.shardID) read before parent \(parent) ended")
                    checkedChildren += 1
                }
            }
        }
        #expect(checkedChildren >= 3)  // two split children of shard 0, the merge child of two
        // Finished parents are at SHARD_END with their children recorded (or already deleted).
        for lease in try await store.leases() where lease.checkpoint == .shardEnd {
            #expect(!lease.childShardIDs.isEmpty)
        }
    }

    @Test func expiredIteratorsResumeAfterTheLastRecordFetched() async throws {
        let clock = ManualClock()
        let simulator = SimulatedKinesis(clock: clock)
        let kinesis = simulator.client()
        try await Fixture.stream(kinesis, "slow", shards: 1)
        try await Fixture.put(kinesis, "slow", "before", count: 30)
        let consumer = KinesisConsumer(stream: "slow", application: "app", kinesis: kinesis, configuration: Fixture.configuration(InMemoryLeaseStore(), worker: "w"))
        let running = Running(consumer)
        let collected = Collected()
        let reader = Task {
            for try await envelope in consumer.envelopes { collected.append(Seen(envelope)) }
        }
        try await eventually("first records") { collected.count == 30 }
        // Every iterator handed out so far is now older than 5 minutes.
        clock.advance(by: .seconds(301))
        try await Fixture.put(kinesis, "slow", "after", count: 30)
        try await eventually("records after expiry") { collected.count >= 60 }
        try await running.stop()
        _ = try? await reader.value
        #expect(collected.all.map(\.text) == (0..<30).map { "before-\($0)" } + (0..<30).map { "after-\($0)" })
        #expect(simulator.callCount("GetShardIterator") >= 2)
    }

    @Test func throttlingAndFailuresBackOffAndLoseNothing() async throws {
        let simulator = SimulatedKinesis()
        let kinesis = simulator.client()
        try await Fixture.stream(kinesis, "busy", shards: 2)
        let written = try await Fixture.put(kinesis, "busy", "r", count: 400)
        var faults = Faults()
        faults.throttle["GetRecords"] = 0.4
        faults.internalFailures["GetRecords"] = 0.1
        faults.throttle["GetShardIterator"] = 0.3
        simulator.faults = faults
        var configuration = Fixture.configuration(InMemoryLeaseStore(), worker: "w")
        configuration.polling.maxRecords = 25
        let consumer = KinesisConsumer(stream: "busy", application: "app", kinesis: kinesis, configuration: configuration)
        let running = Running(consumer)
        let seen = try await within(.seconds(30), "reading through throttling") {
            var seen: [Seen] = []
            for try await envelope in consumer.envelopes {
                seen.append(Seen(envelope))
                if seen.count == written.count { break }
            }
            return seen
        }
        try await running.stop()
        #expect(seen.map(\.text).sorted() == written.sorted())
        Fixture.expectShardOrder(seen)
        #expect(consumer.statistics.throttledCalls > 0)
    }

    @Test func aSlowLoopBoundsTheBuffersAndStopsGetRecords() async throws {
        let simulator = SimulatedKinesis()
        let kinesis = simulator.client()
        try await Fixture.stream(kinesis, "firehose", shards: 4)
        let written = try await Fixture.put(kinesis, "firehose", "r", count: 1_200)
        var configuration = Fixture.configuration(InMemoryLeaseStore(), worker: "w")
        configuration.polling.maxRecords = 50
        configuration.backpressure.maxRecordsPerShard = 100
        configuration.backpressure.maxRecords = 250
        let consumer = KinesisConsumer(stream: "firehose", application: "app", kinesis: kinesis, configuration: configuration)
        let running = Running(consumer)
        // The user's loop, which drops its iterator before the shutdown.
        var iterator: Envelopes.AsyncIterator? = consumer.envelopes.makeAsyncIterator()
        _ = try await iterator?.next()
        // The user stops reading: fetching fills the buffers and then stops.
        try await eventually("buffers full") { consumer.statistics.bufferedRecords >= 200 }
        let calls = simulator.callCount("GetRecords")
        try await Task.sleep(for: .milliseconds(300))  // 15 idle intervals: polling would show
        #expect(simulator.callCount("GetRecords") == calls)
        #expect(consumer.statistics.bufferedRecords <= 250)
        // Reading on: everything arrives, and the buffer never went past its bound.
        var count = 1
        while count < written.count, try await iterator?.next() != nil { count += 1 }
        iterator = nil
        #expect(count == written.count)
        #expect(consumer.statistics.peakBufferedRecords <= 250)
        // One call per 50 records per shard, plus the calls that found nothing new (at most 5 a
        // second per shard while the test runs).
        #expect(simulator.callCount("GetRecords") < 1_200 / 50 + 4 * 5 * 10)
        try await running.stop()
    }

    @Test func aLostLeaseEndsTheSessionAndRefusesCheckpoints() async throws {
        let simulator = SimulatedKinesis()
        let kinesis = simulator.client()
        try await Fixture.stream(kinesis, "taken", shards: 1)
        try await Fixture.put(kinesis, "taken", "r", count: 10)
        let store = InMemoryLeaseStore()
        let consumer = KinesisConsumer(stream: "taken", application: "app", kinesis: kinesis, configuration: Fixture.configuration(store, worker: "w"))
        let running = Running(consumer)
        let outcome = try await within(.seconds(20), "session") {
            var sessions = consumer.shards.makeAsyncIterator()
            let session = try #require(try await sessions.next())
            var envelopes = session.envelopes.makeAsyncIterator()
            let first = try #require(try await envelopes.next())
            try await first.checkpoint()
            // Another worker takes the lease.
            let lease = try #require(try await store.lease(session.shardID))
            _ = try await store.take(lease, owner: "thief")
            var error: KinesisConsumerError?
            do {
                let second = try #require(try await envelopes.next())
                try await second.checkpoint()
            } catch let caught as KinesisConsumerError {
                error = caught
            }
            // The session's sequence ends.
            while try await envelopes.next() != nil {}
            return error
        }
        #expect(outcome?.code == .leaseLost)
        let lease = try #require(try await store.lease("shardId-000000000000"))
        #expect(lease.owner == "thief")
        #expect(lease.checkpoint.sequenceNumber != nil)  // the first checkpoint, not overwritten
        try await running.stop()
    }

    @Test func iteratingBothSequencesIsAClearError() async throws {
        let consumer = KinesisConsumer(stream: "s", application: "a", kinesis: SimulatedKinesis().client(), configuration: Fixture.configuration(InMemoryLeaseStore(), worker: "w"))
        var first = consumer.envelopes.makeAsyncIterator()
        _ = first
        var second = consumer.shards.makeAsyncIterator()
        await #expect(throws: KinesisConsumerError.self) { _ = try await second.next() }
        first = consumer.envelopes.makeAsyncIterator()
        await #expect(throws: KinesisConsumerError.self) { _ = try await first.next() }
    }

    @Test func invalidConfigurationNamesTheSetting() async throws {
        var configuration = Fixture.configuration(InMemoryLeaseStore(), worker: "w")
        configuration.polling.maxRecords = 20_000
        let consumer = KinesisConsumer(stream: "s", application: "a", kinesis: SimulatedKinesis().client(), configuration: configuration)
        do {
            try await consumer.run()
            Issue.record("run() accepted maxRecords 20000")
        } catch let error as KinesisConsumerError {
            #expect(error.code == .invalidConfiguration)
            #expect(error.description.contains("polling.maxRecords"))
        }
    }
}
