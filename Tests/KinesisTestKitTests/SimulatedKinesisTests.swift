import AWSCore
import Foundation
import KinesisAPI
import KinesisTestKit
import Testing

/// `SimulatedKinesis` follows the AWS API reference: each behaviour, through a real `KinesisClient`.
@Suite struct SimulatedKinesisTests {
    let clock = ManualClock()
    let kinesis: SimulatedKinesis
    let client: KinesisClient

    init() {
        kinesis = SimulatedKinesis(clock: clock)
        client = kinesis.client()
    }

    func put(_ count: Int, stream: String = "s", key: (Int) -> String = { "key-\($0)" }, size: Int = 10) async throws -> [PutRecordOutput] {
        var out: [PutRecordOutput] = []
        for index in 0..<count {
            out.append(try await client.putRecord(.name(stream), data: Array(repeating: UInt8(index % 256), count: size), partitionKey: key(index)))
        }
        return out
    }

    func read(_ shardID: String, _ position: IteratorPosition = .trimHorizon, stream: String = "s", limit: Int? = nil) async throws -> GetRecordsOutput {
        let iterator = try await client.getShardIterator(.name(stream), shardID: shardID, position: position)
        return try await client.getRecords(iterator: iterator, limit: limit)
    }

    @Test func routesBySequenceAndHashAsAWSDoes() async throws {
        try await client.createStream("s", shardCount: 4)
        let shards = try await client.listShards(.name("s"))
        #expect(shards.count == 4)
        #expect(shards.first?.hashKeyRange.startingHashKey == 0)
        #expect(shards.last?.hashKeyRange.endingHashKey == UInt128.max)
        for (left, right) in zip(shards, shards.dropFirst()) {
            #expect(left.hashKeyRange.endingHashKey + 1 == right.hashKeyRange.startingHashKey, "the ranges tile the hash space")
        }
        let written = try await put(40)
        for (index, result) in written.enumerated() {
            let shard = try #require(shards.first { $0.shardID == result.shardID })
            #expect(shard.hashKeyRange.contains(HashKey.of(partitionKey: "key-\(index)")), "routed by the MD5 of the partition key")
            #expect(result.sequenceNumber.rawValue.count == 56)
        }
        #expect(Set(written.map(\.sequenceNumber)).count == 40, "unique in the stream")
        for shard in shards {
            let mine = written.filter { $0.shardID == shard.shardID }.map(\.sequenceNumber)
            #expect(mine == mine.sorted(), "increasing in a shard")
            let records = try await read(shard.shardID).records
            #expect(records.map(\.sequenceNumber) == mine)
        }
        // An explicit hash key routes by itself: the top of the space is the last shard's.
        let explicit = try await client.putRecord(.name("s"), data: [1], partitionKey: "any", explicitHashKey: UInt128.max)
        #expect(explicit.shardID == shards.last?.shardID)
    }

    @Test func iteratorPositions() async throws {
        try await client.createStream("s", shardCount: 1)
        let start = clock.now
        var written: [PutRecordOutput] = []
        for index in 0..<5 {
            clock.advance(by: .seconds(1))
            written += try await put(1, key: { _ in "k\(index)" })
        }
        let shard = written[0].shardID
        func keys(_ position: IteratorPosition) async throws -> [String] { try await read(shard, position).records.map(\.partitionKey) }
        #expect(try await keys(.trimHorizon) == ["k0", "k1", "k2", "k3", "k4"])
        #expect(try await keys(.atSequenceNumber(written[2].sequenceNumber)) == ["k2", "k3", "k4"])
        #expect(try await keys(.afterSequenceNumber(written[2].sequenceNumber)) == ["k3", "k4"])
        #expect(try await keys(.atTimestamp(start.addingTimeInterval(3))) == ["k2", "k3", "k4"])
        let latest = try await client.getShardIterator(.name("s"), shardID: shard, position: .latest)
        _ = try await put(1, key: { _ in "new" })
        #expect(try await client.getRecords(iterator: latest).records.map(\.partitionKey) == ["new"])
        let foreign = await #expect(throws: AWSError.self) {
            _ = try await client.getShardIterator(.name("s"), shardID: shard, position: .atSequenceNumber(SequenceNumber("1")!))
        }
        #expect(foreign?.code == .invalidArgument)
    }

    @Test func iteratorsExpireAfterFiveMinutes() async throws {
        try await client.createStream("s", shardCount: 1)
        let shard = try await put(1)[0].shardID
        let iterator = try await client.getShardIterator(.name("s"), shardID: shard, position: .trimHorizon)
        clock.advance(by: .seconds(299))
        let batch = try await client.getRecords(iterator: iterator)
        #expect(batch.records.count == 1)
        clock.advance(by: .seconds(2))
        // The first iterator is now 301 s old; the one just returned is 2 s old.
        let expired = await #expect(throws: AWSError.self) { _ = try await client.getRecords(iterator: iterator) }
        #expect(expired?.code == .expiredIterator)
        #expect(try await client.getRecords(iterator: try #require(batch.nextShardIterator)).records.isEmpty)
    }

    @Test(arguments: ["not-base64!", "AAAA", Data("v1|s|shardId-000000000000|-1|0|0".utf8).base64EncodedString()])
    func malformedIteratorsAreInvalidArguments(_ iterator: String) async throws {
        try await client.createStream("s", shardCount: 1)
        let error = await #expect(throws: AWSError.self) { _ = try await client.getRecords(iterator: iterator) }
        #expect(error?.code == .invalidArgument)
    }

    @Test func getRecordsLimitsAndLag() async throws {
        try await client.createStream("s", shardCount: 1)
        let shard = try await put(3)[0].shardID
        clock.advance(by: .seconds(5))
        let first = try await read(shard, limit: 1)
        #expect(first.records.count == 1)
        #expect(first.millisBehindLatest == 5000, "the next unread record arrived 5 s ago")
        let rest = try await client.getRecords(iterator: try #require(first.nextShardIterator))
        #expect(rest.records.count == 2)
        #expect(rest.millisBehindLatest == 0)
        let tooMany = await #expect(throws: AWSError.self) { _ = try await read(shard, limit: 10_001) }
        #expect(tooMany?.code == .invalidArgument)
        // At most 10 MiB a call: twelve records of 1,000,000 bytes come back ten at a time.
        try await client.createStream("big", shardCount: 1)
        let big = try await put(12, stream: "big", size: 1_000_000)[0].shardID
        let batch = try await read(big, stream: "big")
        #expect(batch.records.count == 10)
    }

    @Test func splitClosesTheParentAndRoutesNewWritesToChildren() async throws {
        try await client.createStream("s", shardCount: 1)
        let parent = try await put(3)[0].shardID
        try await client.splitShard(.name("s"), shardID: parent, newStartingHashKey: UInt128(1) << 127)
        let shards = try await client.listShards(.name("s"))
        let closed = try #require(shards.first { $0.shardID == parent })
        #expect(closed.isClosed)
        let children = shards.filter { $0.parentShardID == parent }
        #expect(children.count == 2)
        #expect(children.map(\.hashKeyRange) == [
            HashKeyRange(startingHashKey: 0, endingHashKey: (UInt128(1) << 127) - 1),
            HashKeyRange(startingHashKey: UInt128(1) << 127, endingHashKey: UInt128.max),
        ])
        let after = try await put(10, key: { "after-\($0)" })
        #expect(after.allSatisfy { $0.shardID != parent }, "new writes go to the children only")
        #expect(try #require(closed.sequenceNumberRange.endingSequenceNumber) < after.map(\.sequenceNumber).min()!)
        // The parent keeps its records, then ends: no next iterator, and its children.
        let end = try await read(parent)
        #expect(end.records.count == 3)
        #expect(end.nextShardIterator == nil)
        #expect(end.childShards?.map(\.shardID) == children.map(\.shardID))
        #expect(end.childShards?.allSatisfy { $0.parentShards == [parent] } == true)
    }

    @Test func mergeOnlyAdjacentShards() async throws {
        try await client.createStream("s", shardCount: 3)
        let shards = try await client.listShards(.name("s"))
        let apart = await #expect(throws: AWSError.self) {
            try await client.mergeShards(.name("s"), shardID: shards[0].shardID, adjacentShardID: shards[2].shardID)
        }
        #expect(apart?.code == .invalidArgument)
        try await client.mergeShards(.name("s"), shardID: shards[0].shardID, adjacentShardID: shards[1].shardID)
        let after = try await client.listShards(.name("s"))
        let child = try #require(after.first { $0.parentShardID == shards[0].shardID })
        #expect(child.adjacentParentShardID == shards[1].shardID)
        #expect(child.hashKeyRange == HashKeyRange(startingHashKey: 0, endingHashKey: shards[1].hashKeyRange.endingHashKey))
        for parent in shards.prefix(2) {
            let end = try await read(parent.shardID)
            #expect(end.reachedShardEnd)
            #expect(end.childShards?.first?.parentShards == [shards[0].shardID, shards[1].shardID])
        }
        #expect(try await client.listShards(.name("s"), filter: .atLatest).map(\.shardID).sorted() == [shards[2].shardID, child.shardID].sorted())
    }

    @Test func updateShardCountAndListShardsPaging() async throws {
        try await client.createStream("s", shardCount: 2)
        let scaled = try await client.updateShardCount(.name("s"), targetShardCount: 4)
        #expect(scaled.current == 2 && scaled.target == 4)
        let open = try await client.listShards(.name("s"), filter: .atLatest)
        #expect(open.count == 4)
        #expect(open.allSatisfy { $0.parentShardID != nil })
        // Pages of 2 through NextToken alone (the client sends nothing else with it), 6 shards in all.
        let all = try await client.listShards(.name("s"), pageSize: 2)
        #expect(all.count == 6)
        #expect(kinesis.callCount("ListShards") == 1 + 3)
        #expect(try await client.listShards(.name("s"), filter: .afterShardID(all[3].shardID)).map(\.shardID) == all.suffix(2).map(\.shardID))
        #expect(try await client.listShards(.name("s"), exclusiveStartShardID: all[0].shardID).count == 5)
    }

    @Test func perShardLimitsWhenSwitchedOn() async throws {
        try await client.createStream("s", shardCount: 1)
        let shard = try await put(1)[0].shardID
        kinesis.limitsEnabled = true
        let iterator = try await client.getShardIterator(.name("s"), shardID: shard, position: .trimHorizon)
        for _ in 0..<5 { _ = try await client.getRecords(iterator: iterator) }
        let throttled = await #expect(throws: AWSError.self) { _ = try await client.getRecords(iterator: iterator) }
        #expect(throttled?.code == .provisionedThroughputExceeded)
        clock.advance(by: .seconds(1))
        _ = try await client.getRecords(iterator: try await client.getShardIterator(.name("s"), shardID: shard, position: .trimHorizon))

        // 1,000 records a second per shard; beyond, PutRecords fails entry by entry.
        clock.advance(by: .seconds(1))
        var failed = 0
        for _ in 0..<3 {
            let output = try await client.putRecords(.name("s"), entries: (0..<400).map { PutRecordsEntry(data: [1], partitionKey: "k\($0)") })
            failed += output.failedRecordCount
            #expect(output.results.allSatisfy { if case .failure(let code, _) = $0 { code == .provisionedThroughputExceeded } else { true } })
        }
        #expect(failed == 200)
    }

    @Test func faultHooks() async throws {
        try await client.createStream("s", shardCount: 1)
        var faults = Faults()
        faults.throttle["PutRecord"] = 1
        kinesis.faults = faults
        let throttled = await #expect(throws: AWSError.self) { _ = try await put(1) }
        #expect(throttled?.code == .provisionedThroughputExceeded)

        faults = Faults()
        faults.internalFailures["DescribeStreamSummary"] = 1
        kinesis.faults = faults
        let failure = await #expect(throws: AWSError.self) { _ = try await client.describeStreamSummary(.name("s")) }
        #expect(failure?.code == .internalFailure)
        #expect(failure?.statusCode == 500)

        faults = Faults()
        faults.failPutRecordsEntry = { index, _ in index % 3 == 1 }
        faults.throttle["GetRecords"] = 0.5
        kinesis.faults = faults
        let output = try await client.putRecords(.name("s"), entries: (0..<9).map { PutRecordsEntry(data: [UInt8($0)], partitionKey: "k") })
        #expect(output.failedRecordCount == 3)
        #expect(output.results.enumerated().allSatisfy { index, result in
            if case .failure(let code, _) = result { index % 3 == 1 && code == .internalFailure } else { index % 3 != 1 }
        })
        // Half the GetRecords calls throttled: some of 40, not all.
        let iterator = try await client.getShardIterator(.name("s"), shardID: "shardId-000000000000", position: .trimHorizon)
        var throttledReads = 0
        for _ in 0..<40 {
            do { _ = try await client.getRecords(iterator: iterator) } catch let error as AWSError where error.code == .provisionedThroughputExceeded { throttledReads += 1 }
        }
        #expect((5...35).contains(throttledReads), "\(throttledReads)")
    }

    @Test func retentionTrimming() async throws {
        try await client.createStream("s", shardCount: 1)
        let shard = try await put(3, key: { "old-\($0)" })[0].shardID
        let old = try await client.getShardIterator(.name("s"), shardID: shard, position: .trimHorizon)
        clock.advance(by: .seconds(7200))
        _ = try await put(2, key: { "new-\($0)" })
        let fresh = try await client.getShardIterator(.name("s"), shardID: shard, position: .trimHorizon)
        kinesis.trimRecords(of: "s", olderThan: .seconds(3600))
        // `fresh` pointed at old-0, which is gone: it reads from the oldest record left.
        #expect(try await client.getRecords(iterator: fresh).records.map(\.partitionKey) == ["new-0", "new-1"])
        #expect(try await read(shard).records.map(\.partitionKey) == ["new-0", "new-1"])
        // The iterator issued two hours ago has long expired.
        let expired = await #expect(throws: AWSError.self) { _ = try await client.getRecords(iterator: old) }
        #expect(expired?.code == .expiredIterator)
    }

    // The behaviours an independent review found missing or wrong, one test each.

    @Test func routesByTheRealMD5AndSplitsTheSpaceAsAWS() async throws {
        try await client.createStream("s", shardCount: 4)
        let shards = try await client.listShards(.name("s"))
        #expect(shards[1].hashKeyRange.startingHashKey == UInt128(1) << 126, "i * floor(2^128 / 4)")
        // MD5("partitionKey") = 193318062818912349798954611745638949166 (computed with Python's
        // hashlib), which lies in the third quarter.
        let byKey = try await client.putRecord(.name("s"), data: [1], partitionKey: "partitionKey")
        #expect(byKey.shardID == "shardId-000000000002")
        // A shard's own ending hash key belongs to it.
        let byEnd = try await client.putRecord(.name("s"), data: [1], partitionKey: "x", explicitHashKey: shards[1].hashKeyRange.endingHashKey)
        #expect(byEnd.shardID == shards[1].shardID)
        try await client.createStream("three", shardCount: 3)
        let thirds = try await client.listShards(.name("three"))
        #expect(thirds[0].hashKeyRange.endingHashKey.description == "113427455640312821154458202477256070484")
    }

    @Test func aSequenceNumberOfAnotherShardIsRefused() async throws {
        try await client.createStream("s", shardCount: 2)
        let first = try await client.putRecord(.name("s"), data: [1], partitionKey: "a", explicitHashKey: 0)
        let other = try #require(try await client.listShards(.name("s")).first { $0.shardID != first.shardID })
        let error = await #expect(throws: AWSError.self) {
            _ = try await client.getShardIterator(.name("s"), shardID: other.shardID, position: .atSequenceNumber(first.sequenceNumber))
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("It encodes \(first.shardID)") == true)
    }

    @Test func putRecordsWritesNothingWhenAnEntryIsInvalid() async throws {
        try await client.createStream("s", shardCount: 1)
        let entries = [PutRecordsEntry(data: [1], partitionKey: "ok"), PutRecordsEntry(data: [2], partitionKey: "")]
        let error = await #expect(throws: AWSError.self) { _ = try await client.putRecords(.name("s"), entries: entries) }
        #expect(error?.code == .invalidArgument)
        let iterator = try await client.getShardIterator(.name("s"), shardID: "shardId-000000000000", position: .trimHorizon)
        #expect(try await client.getRecords(iterator: iterator).records.isEmpty)
    }

    @Test func aClosedShardReadInPartsEndsOnlyAtItsEnd() async throws {
        try await client.createStream("s", shardCount: 1)
        for index in 0..<3 { _ = try await client.putRecord(.name("s"), data: [UInt8(index)], partitionKey: "k\(index)") }
        try await client.splitShard(.name("s"), shardID: "shardId-000000000000", newStartingHashKey: UInt128(1) << 127)
        var iterator = try await client.getShardIterator(.name("s"), shardID: "shardId-000000000000", position: .trimHorizon)
        for _ in 0..<2 {
            let part = try await client.getRecords(iterator: iterator, limit: 1)
            #expect(part.records.count == 1)
            #expect(part.childShards == nil)
            iterator = try #require(part.nextShardIterator)
        }
        let last = try await client.getRecords(iterator: iterator, limit: 1)
        #expect(last.records.count == 1)
        #expect(last.reachedShardEnd)
        #expect(last.childShards?.count == 2)
    }

    @Test func shardFiltersAtTheTrimHorizonAndAtTimes() async throws {
        try await client.createStream("s", shardCount: 1)
        let created = clock.now
        clock.advance(by: .seconds(60))
        try await client.splitShard(.name("s"), shardID: "shardId-000000000000", newStartingHashKey: UInt128(1) << 127)
        let splitAt = clock.now
        clock.advance(by: .seconds(60))
        func ids(_ filter: ShardFilter, pageSize: Int = 1000) async throws -> [String] {
            try await client.listShards(.name("s"), filter: filter, pageSize: pageSize).map(\.shardID)
        }
        let all = ["shardId-000000000000", "shardId-000000000001", "shardId-000000000002"]
        #expect(try await ids(.atTrimHorizon) == ["shardId-000000000000"], "only the shards open at the trim horizon")
        #expect(try await ids(.fromTrimHorizon) == all)
        #expect(try await ids(.atTimestamp(created.addingTimeInterval(30))) == ["shardId-000000000000"])
        #expect(try await ids(.atTimestamp(splitAt)) == all, "a shard closed at exactly T is still open at T")
        #expect(try await ids(.fromTimestamp(splitAt.addingTimeInterval(1))) == ["shardId-000000000001", "shardId-000000000002"])
        #expect(try await ids(.atLatest) == ["shardId-000000000001", "shardId-000000000002"])
        // Paging keeps the filter and its argument.
        #expect(try await ids(.afterShardID("shardId-000000000000"), pageSize: 1) == ["shardId-000000000001", "shardId-000000000002"])
        #expect(try await ids(.fromTimestamp(created), pageSize: 1) == all)
    }

    @Test func scalingIsRealSplitsAndMerges() async throws {
        try await client.createStream("s", shardCount: 4)
        try await client.updateShardCount(.name("s"), targetShardCount: 2)
        let halved = try await client.listShards(.name("s"), filter: .atLatest)
        #expect(halved.map { [$0.parentShardID, $0.adjacentParentShardID] } == [
            ["shardId-000000000000", "shardId-000000000001"], ["shardId-000000000002", "shardId-000000000003"],
        ])
        try await client.updateShardCount(.name("s"), targetShardCount: 4)
        #expect(try await client.listShards(.name("s"), filter: .atLatest).count == 4)
        let odd = await #expect(throws: AWSError.self) { try await client.updateShardCount(.name("s"), targetShardCount: 5) }
        #expect(odd?.code == .limitExceeded)
    }

    @Test func readAndWriteBandwidthLimits() async throws {
        try await client.createStream("s", shardCount: 1)
        for _ in 0..<5 { _ = try await client.putRecord(.name("s"), data: Array(repeating: 7, count: 1_000_000), partitionKey: "k") }
        kinesis.limitsEnabled = true
        let iterator = try await client.getShardIterator(.name("s"), shardID: "shardId-000000000000", position: .trimHorizon)
        let big = try await client.getRecords(iterator: iterator)
        #expect(big.records.count == 5)  // 4.77 MiB: the next 2.4 s of reading are used up
        clock.advance(by: .seconds(1))
        let early = await #expect(throws: AWSError.self) { _ = try await client.getRecords(iterator: try #require(big.nextShardIterator)) }
        #expect(early?.code == .provisionedThroughputExceeded)
        clock.advance(by: .milliseconds(1500))
        #expect(try await client.getRecords(iterator: try #require(big.nextShardIterator)).records.isEmpty)
        // 1 MiB written a second per shard.
        _ = try await client.putRecord(.name("s"), data: Array(repeating: 1, count: 600_000), partitionKey: "k")
        let over = await #expect(throws: AWSError.self) { _ = try await client.putRecord(.name("s"), data: Array(repeating: 1, count: 600_000), partitionKey: "k") }
        #expect(over?.code == .provisionedThroughputExceeded)
        clock.advance(by: .seconds(1))
        _ = try await client.putRecord(.name("s"), data: Array(repeating: 1, count: 600_000), partitionKey: "k")
    }

    @Test func onDemandStreamsAndTheTenThousandRecordCap() async throws {
        try await client.createStream("od", shardCount: nil, mode: .onDemand)
        #expect(try await client.describeStreamSummary(.name("od")).streamMode == .onDemand)
        #expect(try await client.listShards(.name("od")).count == 4)
        try await client.createStream("s", shardCount: 1)
        for _ in 0..<21 {
            _ = try await client.putRecords(.name("s"), entries: (0..<500).map { PutRecordsEntry(data: [UInt8($0 % 256)], partitionKey: "k\($0)") })
        }
        let iterator = try await client.getShardIterator(.name("s"), shardID: "shardId-000000000000", position: .trimHorizon)
        let batch = try await client.getRecords(iterator: iterator)
        #expect(batch.records.count == 10_000)
        #expect(try await client.getRecords(iterator: try #require(batch.nextShardIterator)).records.count == 500)
    }

    @Test func latencyFaultStillAnswers() async throws {
        var faults = Faults()
        faults.latency = .milliseconds(20)
        kinesis.faults = faults
        try await client.createStream("s", shardCount: 1)
        #expect(try await client.listStreams() == ["s"])
        #expect(kinesis.callCount("ListStreams") == 1)
    }
}
