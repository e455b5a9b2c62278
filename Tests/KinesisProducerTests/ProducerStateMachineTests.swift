import AWSCore
import KinesisAPI
@testable import KinesisProducer
import Testing

func seq(_ text: String) -> SequenceNumber { SequenceNumber(text)! }

/// The producer's bookkeeping, driven synchronously with chosen instants.
struct ProducerStateMachineTests {
    typealias Machine = ProducerStateMachine
    let start = ContinuousClock.now

    static func machine(_ adjust: (inout KinesisProducer.Configuration) -> Void = { _ in }) -> Machine {
        var configuration = KinesisProducer.Configuration()
        adjust(&configuration)
        var machine = Machine(settings: .init(configuration))
        _ = machine.installShardMap(ShardMap(shards: [
            Shard(shardID: "only", hashKeyRange: HashKeyRange(startingHashKey: 0, endingHashKey: .max), sequenceNumberRange: SequenceNumberRange(startingSequenceNumber: seq("1"))),
        ]), now: ContinuousClock.now)
        return machine
    }

    /// Two open shards splitting the hash key space at 2^127.
    static let twoShards = ShardMap(shards: [
        Shard(shardID: "low", hashKeyRange: HashKeyRange(startingHashKey: 0, endingHashKey: UInt128(1) << 127 - 1), sequenceNumberRange: SequenceNumberRange(startingSequenceNumber: seq("1"))),
        Shard(shardID: "high", hashKeyRange: HashKeyRange(startingHashKey: UInt128(1) << 127, endingHashKey: .max), sequenceNumberRange: SequenceNumberRange(startingSequenceNumber: seq("1"))),
    ])

    static func next(_ machine: inout Machine, _ now: ContinuousClock.Instant, sourceLocation: SourceLocation = #_sourceLocation) throws -> Machine.Batch {
        let batch = machine.nextBatch(now: now)
        return try #require(batch, sourceLocation: sourceLocation)
    }

    static func success(_ batch: Machine.Batch, shard: (Machine.Entry) -> String = { $0.predictedShardID ?? "low" }) -> Machine.Outcome {
        .results(batch.entries.enumerated().map { .success(shardID: shard($0.element), sequenceNumber: seq("\($0.offset + 1)")) })
    }

    @Test func callsStayWithinKinesisLimits() throws {
        var machine = Self.machine()
        for index in 0..<600 { _ = machine.admit(partitionKey: "k\(index)", explicitHashKey: nil, data: [1, 2, 3], now: start) }
        let first = try Self.next(&machine, start)
        #expect(first.entries.count == 500)
        let second = try Self.next(&machine, start + .seconds(1))
        #expect(second.entries.count == 100)

        var large = Self.machine()
        for index in 0..<600 { _ = large.admit(partitionKey: "k\(index)", explicitHashKey: nil, data: [UInt8](repeating: 7, count: 12_000), now: start) }
        let batch = try Self.next(&large, start)
        #expect(batch.bytes <= 5 * 1024 * 1024)
        #expect(batch.entries.count < 500)
        #expect(batch.bytes + 12_004 > 5 * 1024 * 1024, "the call is filled as far as the next record allows")
        #expect(batch.bytes == batch.entries.reduce(0) { $0 + $1.request.data.count + $1.request.partitionKey.utf8.count })
    }

    @Test func aRecordLingersUntilItsTimeOrAFlush() throws {
        var machine = Self.machine { $0.linger = .milliseconds(100) }
        _ = machine.admit(partitionKey: "k", explicitHashKey: nil, data: [1], now: start)
        let batch1 = machine.nextBatch(now: start + .milliseconds(50))
        #expect(batch1 == nil)
        #expect(machine.nextWakeup(now: start + .milliseconds(50)) == start + .milliseconds(100))
        let batch2 = machine.nextBatch(now: start + .milliseconds(100))
        #expect(batch2?.userRecords == 1)

        var flushed = Self.machine { $0.linger = .seconds(60) }
        _ = flushed.admit(partitionKey: "k", explicitHashKey: nil, data: [1], now: start)
        let epoch = flushed.requestFlush()
        let batch = try Self.next(&flushed, start)
        #expect(!flushed.isFlushed(through: epoch))
        _ = flushed.complete(batch, outcome: Self.success(batch), now: start)
        #expect(flushed.isFlushed(through: epoch))
        #expect(flushed.isDrained)
    }

    @Test func oneKeyHasOneEntryInFlightWhenOrdered() throws {
        var machine = Self.machine { $0.linger = .zero }
        for index in 0..<3 { _ = machine.admit(partitionKey: "hot", explicitHashKey: nil, data: [UInt8(index)], now: start) }
        _ = machine.admit(partitionKey: "other", explicitHashKey: nil, data: [9], now: start)
        let first = try Self.next(&machine, start)
        #expect(first.entries.map(\.request.data) == [[0], [9]])
        let batch3 = machine.nextBatch(now: start)
        #expect(batch3 == nil, "the hot key's next record waits for the first")
        _ = machine.complete(first, outcome: Self.success(first), now: start)
        let batch4 = machine.nextBatch(now: start)
        #expect(batch4?.entries.map(\.request.data) == [[1]])

        var unordered = Self.machine { $0.linger = .zero; $0.ordering = .none }
        for index in 0..<3 { _ = unordered.admit(partitionKey: "hot", explicitHashKey: nil, data: [UInt8(index)], now: start) }
        let all = unordered.nextBatch(now: start)
        #expect(all?.entries.count == 3)
    }

    @Test func aRetriedRecordKeepsItsPlaceBeforeLaterOnesOfItsKey() throws {
        var machine = Self.machine { $0.linger = .zero }
        _ = machine.admit(partitionKey: "k", explicitHashKey: nil, data: [1], now: start)
        _ = machine.admit(partitionKey: "k", explicitHashKey: nil, data: [2], now: start)
        let first = try Self.next(&machine, start)
        let completion = machine.complete(first, outcome: .results([.failure(errorCode: .provisionedThroughputExceeded, errorMessage: "slow down")]), now: start)
        #expect(completion.retried == 1 && completion.throttled == 1 && completion.failed.isEmpty)
        let batch6 = machine.nextBatch(now: start)
        #expect(batch6 == nil, "record 2 may not overtake record 1 while 1 backs off")
        let wakeup = try #require(machine.nextWakeup(now: start))
        #expect(wakeup > start && wakeup <= start + .milliseconds(200))
        // The throttling backoff is at most 200 ms (its base, after one attempt).
        let later = start + .milliseconds(200)
        let retry = try Self.next(&machine, later)
        #expect(retry.entries.map(\.request.data) == [[1]])
        #expect(retry.entries[0].records[0].attempts == 2)
        _ = machine.complete(retry, outcome: Self.success(retry), now: later)
        let batch7 = machine.nextBatch(now: later)
        #expect(batch7?.entries.map(\.request.data) == [[2]])
    }

    @Test func recordsForOneShardArePackedIntoAggregates() throws {
        var machine = Self.machine { $0.linger = .zero; $0.aggregation.isEnabled = true }
        _ = machine.installShardMap(Self.twoShards, now: start)
        for index in 0..<100 { _ = machine.admit(partitionKey: "key-\(index)", explicitHashKey: nil, data: Array("record \(index)".utf8), now: start) }
        let batch = try Self.next(&machine, start)
        #expect(batch.entries.count == 2)
        #expect(batch.userRecords == 100)
        for entry in batch.entries {
            #expect(entry.isAggregated)
            let shardID = try #require(entry.predictedShardID)
            let range = try #require(Self.twoShards.range(of: shardID))
            let users = try AggregatedRecordFormat.decode(entry.request.data[...])
            #expect(users.map(\.partitionKey) == entry.records.map(\.partitionKey))
            #expect(users.allSatisfy { range.contains($0.effectiveHashKey) })
            #expect(entry.request.explicitHashKey.map(range.contains) == true, "the aggregate is routed to its predicted shard")
        }
        let completion = machine.complete(batch, outcome: Self.success(batch), now: start)
        #expect(completion.delivered.count == 100)
        #expect(completion.delivered.allSatisfy { $0.receipt.subSequenceNumber != nil })

        // A lone record is sent as it is.
        _ = machine.admit(partitionKey: "alone", explicitHashKey: nil, data: [1], now: start)
        let lone = try Self.next(&machine, start)
        #expect(!lone.entries[0].isAggregated && lone.entries[0].request.data == [1])
    }

    @Test func anAggregateOnAnUnexpectedShardSendsAgainWhatLiesOutsideIt() throws {
        var machine = Self.machine { $0.linger = .zero; $0.aggregation.isEnabled = true; $0.ordering = .none }
        _ = machine.installShardMap(Self.twoShards, now: start)
        for index in 0..<40 { _ = machine.admit(partitionKey: "key-\(index)", explicitHashKey: nil, data: [UInt8(index)], now: start) }
        let batch = try Self.next(&machine, start)
        let low = try #require(batch.entries.first { $0.predictedShardID == "low" })
        // The "low" aggregate landed on "high" (the map was stale): its records lie outside "high".
        let completion = machine.complete(batch, outcome: Self.success(batch) { $0.predictedShardID == "low" ? "high" : "high" }, now: start)
        #expect(machine.shardMapIsStale)
        #expect(completion.retried == low.records.count)
        #expect(completion.delivered.count == 40 - low.records.count)
        #expect(completion.delivered.allSatisfy { $0.receipt.shardID == "high" && $0.record.hashKey >= UInt128(1) << 127 })
    }

    @Test func anAggregateOnAShardTheMapDoesNotKnowWaitsForTheNewMap() throws {
        var machine = Self.machine { $0.linger = .zero; $0.aggregation.isEnabled = true }
        _ = machine.installShardMap(Self.twoShards, now: start)
        for index in 0..<40 { _ = machine.admit(partitionKey: "key-\(index)", explicitHashKey: nil, data: [UInt8(index)], now: start) }
        let batch = try Self.next(&machine, start)
        let low = try #require(batch.entries.first { $0.predictedShardID == "low" && $0.isAggregated })
        // "low" was split; its aggregate landed on the child holding its first record's hash key.
        let split = UInt128(1) << 126
        let first = low.records[0].hashKey < split
        let child = first ? "low-a" : "low-b"
        let completion = machine.complete(batch, outcome: Self.success(batch) { $0.predictedShardID == "low" ? child : "high" }, now: start)
        #expect(completion.delivered.allSatisfy { $0.receipt.shardID == "high" })
        #expect(completion.retried == 0, "nothing is decided before the map is read again")
        _ = machine.admit(partitionKey: "later", explicitHashKey: nil, data: [1], now: start)
        let held = machine.nextBatch(now: start + .seconds(1))
        #expect(held == nil, "nothing more is sent on a stale map")
        let range = { (start: UInt128, end: UInt128, id: String) in
            Shard(shardID: id, hashKeyRange: HashKeyRange(startingHashKey: start, endingHashKey: end), sequenceNumberRange: SequenceNumberRange(startingSequenceNumber: seq("1")))
        }
        let settled = machine.installShardMap(ShardMap(shards: [
            range(0, split - 1, "low-a"), range(split, UInt128(1) << 127 - 1, "low-b"), range(UInt128(1) << 127, .max, "high"),
        ]), now: start)
        let inChild = low.records.filter { ($0.hashKey < split) == first }
        #expect(settled.delivered.map(\.record.id) == inChild.map(\.id))
        #expect(settled.delivered.allSatisfy { $0.receipt.shardID == child })
        #expect(settled.retried == low.records.count - inChild.count)
        #expect(settled.retried > 0)
    }

    @Test func recordsPastTheirDeadlineFailWithTheLastError() throws {
        var machine = Self.machine { $0.linger = .zero; $0.recordTTL = .seconds(1) }
        _ = machine.admit(partitionKey: "k", explicitHashKey: nil, data: [1], now: start)
        let batch = try Self.next(&machine, start)
        _ = machine.complete(batch, outcome: .results([.failure(errorCode: .internalFailure, errorMessage: "oops")]), now: start + .milliseconds(10))
        let expired = machine.expire(now: start + .seconds(2))
        let failure = try #require(expired.failed.first)
        #expect(failure.error.code == .recordExpired)
        #expect(failure.error.underlying?.code == .internalFailure)
        #expect(failure.error.attempts == 1)
        #expect(machine.isDrained)

        // Never sent: it expires too, with no attempt.
        var waiting = Self.machine { $0.linger = .seconds(60); $0.recordTTL = .seconds(1) }
        _ = waiting.admit(partitionKey: "k", explicitHashKey: nil, data: [1], now: start)
        #expect(waiting.nextWakeup(now: start) == start + .seconds(1))
        let expiredUnsent = waiting.expire(now: start + .seconds(1))
        #expect(expiredUnsent.failed.map(\.error.attempts) == [0])
    }

    @Test func finalErrorsAndUnreadableAnswersFailWithoutRetry() throws {
        var machine = Self.machine { $0.linger = .zero }
        _ = machine.admit(partitionKey: "a", explicitHashKey: nil, data: [1], now: start)
        _ = machine.admit(partitionKey: "b", explicitHashKey: nil, data: [2], now: start)
        let batch = try Self.next(&machine, start)
        let denied = machine.complete(batch, outcome: .results([
            .failure(errorCode: AWSError.Code("KMSAccessDeniedException"), errorMessage: "no"), .success(shardID: "s", sequenceNumber: seq("5")),
        ]), now: start)
        #expect(denied.failed.map(\.error.code) == [.recordFailed])
        #expect(denied.failed.first?.error.underlying?.code.rawValue == "KMSAccessDeniedException")
        #expect(denied.delivered.map(\.receipt.sequenceNumber) == [seq("5")])

        _ = machine.admit(partitionKey: "c", explicitHashKey: nil, data: [3], now: start)
        let second = try Self.next(&machine, start)
        let short = machine.complete(second, outcome: .results([]), now: start)
        #expect(short.failed.count == 1 && short.retried == 0)
        #expect(machine.isDrained)
    }

    @Test func theBufferBoundCountsEverythingHeld() throws {
        var machine = Self.machine { $0.backpressure.maxRecords = 2; $0.linger = .zero }
        #expect(machine.hasRoom(forBytes: 2_000_000), "an empty buffer takes any record")
        _ = machine.admit(partitionKey: "a", explicitHashKey: nil, data: [1], now: start)
        _ = machine.admit(partitionKey: "b", explicitHashKey: nil, data: [2], now: start)
        #expect(!machine.hasRoom(forBytes: 2))
        let batch = try Self.next(&machine, start)
        #expect(!machine.hasRoom(forBytes: 2), "records in flight still count")
        _ = machine.complete(batch, outcome: Self.success(batch), now: start)
        #expect(machine.hasRoom(forBytes: 2))
        #expect(machine.peakBufferedRecords == 2)
    }
}
