import Foundation
import KinesisAPI
import KinesisConsumer
import KinesisLeases
import Testing

/// The shard consumer's decisions, driven synchronously: no I/O, no sleeps, time passed in.
@Suite struct ShardConsumerStateMachineTests {
    static let t0 = ContinuousClock.now
    static func sequence(_ n: Int) -> SequenceNumber { SequenceNumber("4959033827149025660855969253836157109592157598913\(String(format: "%07d", n))")! }

    static func record(_ n: Int, sub: UInt64 = 0, aggregated: Bool = false, key: String = "k", bytes: Int = 10) -> DeaggregatedRecord {
        DeaggregatedRecord(sequenceNumber: sequence(n), subSequenceNumber: sub, partitionKey: key, explicitHashKey: nil, data: Array(repeating: 1, count: bytes)[...], approximateArrivalTimestamp: nil, encryptionType: nil, isAggregated: aggregated)
    }

    func machine(_ checkpoint: Checkpoint, range: HashKeyRange? = nil, _ configure: (inout ShardConsumerStateMachine.Configuration) -> Void = { _ in }) -> ShardConsumerStateMachine {
        var configuration = ShardConsumerStateMachine.Configuration()
        configure(&configuration)
        return ShardConsumerStateMachine(shardID: "shardId-000000000000", hashKeyRange: range, checkpoint: checkpoint, configuration: configuration)
    }

    @Test func startsWhereTheLeaseSays() {
        var fromCheckpoint = machine(.at(Self.sequence(5), subSequenceNumber: 2))
        #expect(fromCheckpoint.start() == .getIterator(.atSequenceNumber(Self.sequence(5))))
        var horizon = machine(.trimHorizon)
        #expect(horizon.start() == .getIterator(.trimHorizon))
        var latest = machine(.latest)
        #expect(latest.start() == .getIterator(.latest))
        let date = Date(timeIntervalSince1970: 1_700_000_000)
        var timestamp = machine(.atTimestamp) { $0.initialTimestamp = date }
        #expect(timestamp.start() == .getIterator(.atTimestamp(date)))
        var ended = machine(.shardEnd)
        #expect(ended.start() == .stop)
    }

    @Test func dropsWhatIsAtOrBelowTheCheckpointInsideAnAggregate() {
        var machine = machine(.at(Self.sequence(5), subSequenceNumber: 1))
        _ = machine.start()
        // The aggregate at sequence 5 comes again whole; only its user records after 1 are new.
        let batch = [Self.record(5, sub: 0, aggregated: true), Self.record(5, sub: 1, aggregated: true), Self.record(5, sub: 2, aggregated: true), Self.record(6)]
        let action = machine.fetched(batch, lastRecord: Self.sequence(6), nextIterator: "next", millisBehindLatest: 0, childShards: nil, now: Self.t0)
        guard case .deliver(let records, 0, _) = action else { Issue.record("\(action)"); return }
        #expect(records.map { "\($0.sequenceNumber.rawValue.suffix(2))/\($0.subSequenceNumber)" } == ["05/2", "06/0"])
    }

    @Test func pacesCallsAtOnceWhileBehindIdleWhenCaughtUpAndFivePerSecond() {
        var machine = machine(.trimHorizon) { $0.idleTimeBetweenReads = .milliseconds(500) }
        _ = machine.start()
        #expect(machine.iteratorReceived("i0", now: Self.t0) == .fetch(iterator: "i0", limit: 10_000, after: .zero))
        // Behind: the next call at once (the second, third, fourth and fifth of this second).
        for call in 1...4 {
            let action = machine.fetched([Self.record(call)], lastRecord: Self.sequence(call), nextIterator: "i\(call)", millisBehindLatest: 5000, childShards: nil, now: Self.t0)
            #expect(action == .deliver([Self.record(call)], outOfRange: 0, then: .fetch(iterator: "i\(call)", limit: 10_000, after: .zero)))
            _ = machine.consumed(records: 1, bytes: 10, now: Self.t0)
        }
        // A sixth call in the same second waits for the window.
        let sixth = machine.fetched([Self.record(5)], lastRecord: Self.sequence(5), nextIterator: "i5", millisBehindLatest: 5000, childShards: nil, now: Self.t0)
        #expect(sixth == .deliver([Self.record(5)], outOfRange: 0, then: .fetch(iterator: "i5", limit: 10_000, after: .seconds(1))))
        // Caught up (nothing returned): the idle time.
        let later = Self.t0 + .seconds(10)
        #expect(machine.fetched([], lastRecord: nil, nextIterator: "i6", millisBehindLatest: 0, childShards: nil, now: later) == .fetch(iterator: "i6", limit: 10_000, after: .milliseconds(500)))
    }

    @Test func throttlingBacksOffExponentiallyWithJitterAndResets() {
        var machine = machine(.trimHorizon) { $0.throttleBackoffBase = .milliseconds(100); $0.maxBackoff = .seconds(1) }
        _ = machine.start()
        var now = Self.t0
        let delays: [Duration] = (0..<6).map { _ in
            now += .seconds(2)
            guard case .fetch(_, _, let after) = machine.throttled(iterator: "it", jitter: 1, now: now) else { return .zero }
            return after
        }
        #expect(delays == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1)])
        #expect(machine.throttled(iterator: "it", jitter: 0.5, now: now + .seconds(5)) == .fetch(iterator: "it", limit: 10_000, after: .milliseconds(500)))
        _ = machine.fetched([], lastRecord: nil, nextIterator: "it", millisBehindLatest: 0, childShards: nil, now: now + .seconds(9))
        #expect(machine.throttled(iterator: "it", jitter: 1, now: now + .seconds(20)) == .fetch(iterator: "it", limit: 10_000, after: .milliseconds(100)), "a success resets the backoff")
    }

    @Test func anExpiredIteratorResumesAfterTheLastRecordFetched() {
        var fresh = machine(.at(Self.sequence(3)))
        _ = fresh.start()
        #expect(fresh.iteratorExpired() == .getIterator(.atSequenceNumber(Self.sequence(3))), "nothing fetched yet: where reading started")
        _ = fresh.fetched([Self.record(4), Self.record(7, sub: 3, aggregated: true)], lastRecord: Self.sequence(7), nextIterator: "n", millisBehindLatest: 0, childShards: nil, now: Self.t0)
        #expect(fresh.iteratorExpired() == .getIterator(.afterSequenceNumber(Self.sequence(7))))
    }

    @Test func aFullBufferStopsFetchingUntilTheUserCatchesUp() {
        var machine = machine(.trimHorizon) { $0.maxBufferedRecords = 3; $0.maxBufferedBytes = 1_000 }
        _ = machine.start()
        let full = machine.fetched((1...3).map { Self.record($0) }, lastRecord: Self.sequence(3), nextIterator: "next", millisBehindLatest: 100, childShards: nil, now: Self.t0)
        #expect(full == .deliver((1...3).map { Self.record($0) }, outOfRange: 0, then: .pause))
        #expect(machine.consumed(records: 0, bytes: 0, now: Self.t0) == .none)
        #expect(machine.consumed(records: 1, bytes: 10, now: Self.t0 + .seconds(5)) == .fetch(iterator: "next", limit: 10_000, after: .zero))
        // Bytes count too.
        var bytes = self.machine(.trimHorizon) { $0.maxBufferedBytes = 100 }
        _ = bytes.start()
        #expect(bytes.fetched([Self.record(1, bytes: 150)], lastRecord: Self.sequence(1), nextIterator: "n", millisBehindLatest: 0, childShards: nil, now: Self.t0) == .deliver([Self.record(1, bytes: 150)], outOfRange: 0, then: .pause))
    }

    @Test func checkpointsMoveForwardWithinWhatWasDelivered() {
        var machine = machine(.at(Self.sequence(2)))
        _ = machine.start()
        _ = machine.fetched([Self.record(3), Self.record(4, sub: 0, aggregated: true), Self.record(4, sub: 1, aggregated: true)], lastRecord: Self.sequence(4), nextIterator: "n", millisBehindLatest: 0, childShards: nil, now: Self.t0)
        #expect(machine.checkpointRequested(Self.sequence(4), subSequenceNumber: 0) == .writeCheckpoint(.at(Self.sequence(4), subSequenceNumber: 0)))
        _ = machine.checkpointWritten(.at(Self.sequence(4), subSequenceNumber: 0))
        #expect(machine.checkpointRequested(Self.sequence(3), subSequenceNumber: 0) == .rejectCheckpoint(.regression(current: .at(Self.sequence(4)))))
        #expect(machine.checkpointRequested(Self.sequence(4), subSequenceNumber: 2) == .rejectCheckpoint(.notDelivered))
        #expect(machine.checkpointRequested(Self.sequence(9), subSequenceNumber: 0) == .rejectCheckpoint(.notDelivered))
        #expect(machine.checkpointRequested(Self.sequence(4), subSequenceNumber: 1) == .writeCheckpoint(.at(Self.sequence(4), subSequenceNumber: 1)))
    }

    @Test func writesReportedOutOfOrderNeverMoveTheCheckpointBack() {
        var machine = machine(.trimHorizon)
        _ = machine.start()
        _ = machine.fetched([Self.record(1), Self.record(2)], lastRecord: Self.sequence(2), nextIterator: "n", millisBehindLatest: 0, childShards: nil, now: Self.t0)
        _ = machine.checkpointWritten(.at(Self.sequence(2)))
        #expect(machine.checkpointWritten(.at(Self.sequence(1))) == .none)
        #expect(machine.checkpoint == .at(Self.sequence(2)))
    }

    @Test func iteratorRequestsShareTheBackoffAndASuccessResetsIt() {
        var machine = machine(.trimHorizon)
        _ = machine.start()
        #expect(machine.iteratorRequestFailed(jitter: 1) == .milliseconds(200))
        #expect(machine.iteratorRequestFailed(jitter: 1) == .milliseconds(400))
        _ = machine.iteratorReceived("i", now: Self.t0)
        #expect(machine.iteratorRequestFailed(jitter: 0.5) == .milliseconds(100))
    }

    @Test func aLostLeaseStopsEverythingAndRefusesCheckpoints() {
        var machine = machine(.trimHorizon)
        _ = machine.start()
        _ = machine.fetched([Self.record(1)], lastRecord: Self.sequence(1), nextIterator: "n", millisBehindLatest: 0, childShards: nil, now: Self.t0)
        #expect(machine.leaseWasLost() == .stop)
        #expect(machine.checkpointRequested(Self.sequence(1), subSequenceNumber: 0) == .rejectCheckpoint(.leaseLost))
        #expect(machine.fetched([Self.record(2)], lastRecord: Self.sequence(2), nextIterator: "n", millisBehindLatest: 0, childShards: nil, now: Self.t0) == .stop)
        #expect(machine.iteratorReceived("x", now: Self.t0) == .stop)
    }

    @Test func shardEndWaitsForTheLastCheckpoint() {
        let children = [ChildShard(shardID: "shardId-000000000002", parentShards: ["shardId-000000000000"], hashKeyRange: HashKeyRange(startingHashKey: 0, endingHashKey: 10))]
        var machine = machine(.trimHorizon)
        _ = machine.start()
        let last = machine.fetched([Self.record(1), Self.record(2)], lastRecord: Self.sequence(2), nextIterator: nil, millisBehindLatest: 0, childShards: children, now: Self.t0)
        #expect(last == .deliver([Self.record(1), Self.record(2)], outOfRange: 0, then: .awaitShardEnd))
        _ = machine.checkpointRequested(Self.sequence(1), subSequenceNumber: 0)
        #expect(machine.checkpointWritten(.at(Self.sequence(1))) == .none, "record 2 is not checkpointed yet")
        _ = machine.checkpointRequested(Self.sequence(2), subSequenceNumber: 0)
        #expect(machine.checkpointWritten(.at(Self.sequence(2))) == .finishShard(children: children))
        // A closed shard with nothing left to deliver finishes at once.
        var empty = self.machine(.at(Self.sequence(9)))
        _ = empty.start()
        #expect(empty.fetched([], lastRecord: nil, nextIterator: nil, millisBehindLatest: 0, childShards: children, now: Self.t0) == .finishShard(children: children))
    }

    @Test func userRecordsOutsideTheShardAreCountedAndDeliveredOrDropped() {
        // A range that holds neither key's MD5 below.
        let range = HashKeyRange(startingHashKey: 0, endingHashKey: 1)
        let batch = [Self.record(1, sub: 0, aggregated: true, key: "a"), Self.record(1, sub: 1, aggregated: true, key: "b"), Self.record(2, key: "plain")]
        var delivering = machine(.trimHorizon, range: range)
        _ = delivering.start()
        guard case .deliver(let all, let counted, _) = delivering.fetched(batch, lastRecord: Self.sequence(2), nextIterator: "n", millisBehindLatest: 0, childShards: nil, now: Self.t0) else { Issue.record("no delivery"); return }
        #expect(all.count == 3, "never dropped silently: delivered")
        #expect(counted == 2, "and counted (plain records are routed by Kinesis itself)")
        var dropping = machine(.trimHorizon, range: range) { $0.dropRecordsOutsideShardRange = true }
        _ = dropping.start()
        guard case .deliver(let kept, let dropped, _) = dropping.fetched(batch, lastRecord: Self.sequence(2), nextIterator: "n", millisBehindLatest: 0, childShards: nil, now: Self.t0) else { Issue.record("no delivery"); return }
        #expect(kept.map(\.partitionKey) == ["plain"], "filtered one user record at a time, KCL's way but not the whole aggregate")
        #expect(dropped == 2)
    }
}
