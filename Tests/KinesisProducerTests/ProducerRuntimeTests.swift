import AWSCore
import KinesisAPI
@testable import KinesisProducer
import KinesisTestKit
import Synchronization
import Testing

/// A record as it lies in the stream, aggregates unpacked.
struct StoredRecord: Sendable, Hashable {
    var shardID: String
    var sequenceNumber: SequenceNumber
    var subSequenceNumber: UInt64?
    var partitionKey: String
    var explicitHashKey: UInt128?
    var data: [UInt8]
}

/// Every record of every shard (closed ones too), from the trim horizon, with our deaggregator.
func readStream(_ kinesis: KinesisClient, _ stream: String) async throws -> [StoredRecord] {
    var stored: [StoredRecord] = []
    for shard in try await kinesis.listShards(.name(stream)) {
        var iterator: String? = try await kinesis.getShardIterator(.name(stream), shardID: shard.shardID, position: .trimHorizon)
        var deaggregator = Deaggregator(shardID: shard.shardID)
        var calls = 0
        while let current = iterator, calls < 1000 {
            calls += 1
            let output = try await kinesis.getRecords(iterator: current)
            var users: [DeaggregatedRecord] = []
            deaggregator.deaggregate(output.records, into: &users)
            stored += users.map {
                StoredRecord(shardID: shard.shardID, sequenceNumber: $0.sequenceNumber, subSequenceNumber: $0.isAggregated ? $0.subSequenceNumber : nil,
                             partitionKey: $0.partitionKey, explicitHashKey: $0.explicitHashKey, data: Array($0.data))
            }
            if output.records.isEmpty, (output.millisBehindLatest ?? 0) == 0 { break }
            iterator = output.nextShardIterator
        }
    }
    return stored
}

/// Runs `producer` around `body`, then shuts it down gracefully and waits for `run()` to return.
func withRunning<T: Sendable>(_ producer: KinesisProducer, _ body: @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await producer.run() }
        let result = try await body()
        producer.triggerGracefulShutdown()
        try await group.waitForAll()
        return result
    }
}

/// `key-<k>` records carry `<k>:<n>`: the n-th record given for key k.
func payload(key: Int, index: Int) -> [UInt8] { Array("\(key):\(index)".utf8) }

/// Checks that each key's records lie in the stream in the order they were given (by shard and
/// sequence number, then sub-sequence), each exactly once.
func expectKeyOrder(_ records: [StoredRecord], keys: Int, perKey: Int, sourceLocation: SourceLocation = #_sourceLocation) {
    var byKey: [String: [(SequenceNumber, UInt64, Int)]] = [:]
    for record in records {
        let text = String(decoding: record.data, as: UTF8.self)
        guard let index = text.split(separator: ":").last.flatMap({ Int($0) }) else { continue }
        byKey[record.partitionKey, default: []].append((record.sequenceNumber, record.subSequenceNumber ?? 0, index))
    }
    #expect(byKey.count == keys, sourceLocation: sourceLocation)
    for (key, entries) in byKey {
        let ordered = entries.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map(\.2)
        #expect(ordered == Array(0..<perKey), "key \(key) out of order or incomplete", sourceLocation: sourceLocation)
    }
}


@Suite(.timeLimit(.minutes(1)))
struct ProducerRuntimeTests {
    static func configuration(_ adjust: (inout KinesisProducer.Configuration) -> Void = { _ in }) -> KinesisProducer.Configuration {
        var configuration = KinesisProducer.Configuration()
        configuration.linger = .milliseconds(5)
        configuration.retry.baseDelay = .milliseconds(5)
        configuration.retry.throttlingBaseDelay = .milliseconds(10)
        configuration.retry.maxDelay = .milliseconds(200)
        adjust(&configuration)
        return configuration
    }

    static func stream(shards: Int) async throws -> (SimulatedKinesis, KinesisClient) {
        let kinesis = SimulatedKinesis()
        let client = kinesis.client()
        try await client.createStream("orders", shardCount: shards)
        return (kinesis, client)
    }

    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func everyRecordArrivesOnceInKeyOrderWithItsReceipt(aggregate: Bool, explicitHashKeys: Bool) async throws {
        let (_, client) = try await Self.stream(shards: 3)
        let producer = KinesisProducer(stream: "orders", kinesis: client, configuration: Self.configuration { $0.aggregation.isEnabled = aggregate })
        let keys = 24, perKey = 40
        let hashKey: @Sendable (Int) -> UInt128? = { explicitHashKeys ? UInt128($0) * (UInt128.max / 24) : nil }
        let receipts = try await withRunning(producer) {
            // One task submits most records; every tenth goes through `send` and is checked below.
            try await withThrowingTaskGroup(of: (Int, Int, KinesisProducer.Receipt).self) { group in
                for index in 0..<perKey {
                    for key in 0..<keys {
                        if (index * keys + key) % 10 == 0 {
                            let data = payload(key: key, index: index)
                            // Given in order: `send` takes the record before the next one is given.
                            let ticket = AsyncStream<Void>.makeStream()
                            group.addTask {
                                ticket.continuation.yield()
                                return (key, index, try await producer.send(data, partitionKey: "key-\(key)", explicitHashKey: hashKey(key)))
                            }
                            for await _ in ticket.stream { break }
                            try await Task.sleep(for: .milliseconds(1))
                        } else {
                            try await producer.submit(payload(key: key, index: index), partitionKey: "key-\(key)", explicitHashKey: hashKey(key))
                        }
                    }
                }
                try await producer.flush()
                var receipts: [(Int, Int, KinesisProducer.Receipt)] = []
                for try await receipt in group { receipts.append(receipt) }
                return receipts
            }
        }
        let stored = try await readStream(client, "orders")
        #expect(stored.count == keys * perKey)
        expectKeyOrder(stored, keys: keys, perKey: perKey)
        let shards = try await client.listShards(.name("orders"))
        for record in stored {
            let range = try #require(shards.first { $0.shardID == record.shardID }?.hashKeyRange)
            // Kinesis keeps no explicit hash key of a plain record; an aggregate keeps its records'.
            let given = hashKey(Int(record.partitionKey.dropFirst(4))!)
            #expect(range.contains(given ?? HashKey.of(partitionKey: record.partitionKey)), "a record outside its shard's range is dropped by KCL")
            if record.subSequenceNumber != nil { #expect(record.explicitHashKey == given) }
        }
        #expect(receipts.count == keys * perKey / 10)
        for (key, index, receipt) in receipts {
            let match = stored.first { $0.shardID == receipt.shardID && $0.sequenceNumber == receipt.sequenceNumber && $0.subSequenceNumber == receipt.subSequenceNumber }
            #expect(match?.data == payload(key: key, index: index), "receipt \(receipt) points at the record")
        }
        let statistics = producer.statistics
        #expect(statistics.recordsSent == keys * perKey)
        #expect(statistics.recordsFailed == 0 && statistics.retries == 0)
        #expect(statistics.bufferedRecords == 0 && statistics.bufferedBytes == 0)
        if aggregate {
            #expect(statistics.kinesisRecordsSent < statistics.recordsSent / 4)
            #expect(stored.contains { $0.subSequenceNumber != nil })
        } else {
            #expect(statistics.kinesisRecordsSent == statistics.recordsSent)
        }
    }

    @Test(arguments: [false, true])
    func failedEntriesAndCallsAreRetriedUntilWritten(aggregate: Bool) async throws {
        let (kinesis, client) = try await Self.stream(shards: 2)
        // Three entries in every ten fail (the simulator's own draws choose the failed calls).
        let entries = Atomic<Int>(0)
        var faults = Faults()
        faults.failPutRecordsEntry = { _, _ in entries.add(1, ordering: .relaxed).newValue % 10 < 3 }
        faults.throttle["PutRecords"] = 0.2
        faults.internalFailures["PutRecords"] = 0.1
        kinesis.faults = faults
        let producer = KinesisProducer(stream: "orders", kinesis: client, configuration: Self.configuration { $0.aggregation.isEnabled = aggregate })
        let keys = 16, perKey = 60
        try await withRunning(producer) {
            // A flush every second round, so that aggregation too makes enough calls for the
            // simulator's call faults to come up.
            for index in 0..<perKey {
                for key in 0..<keys { try await producer.submit(payload(key: key, index: index), partitionKey: "key-\(key)") }
                if index % 2 == 1 { try await producer.flush() }
            }
        }
        kinesis.faults = Faults()
        let stored = try await readStream(client, "orders")
        #expect(stored.count == keys * perKey, "the simulator writes nothing of a failed entry or call: every record exactly once")
        expectKeyOrder(stored, keys: keys, perKey: perKey)
        let statistics = producer.statistics
        #expect(statistics.recordsFailed == 0)
        #expect(statistics.retries > 0)
        #expect(statistics.errors["InternalFailure", default: 0] > 0)
        #expect(statistics.errors["ProvisionedThroughputExceededException", default: 0] > 0)
    }

    @Test func throttlingSlowsTheProducerInsteadOfFailingIt() async throws {
        let (kinesis, client) = try await Self.stream(shards: 1)
        kinesis.limitsEnabled = true  // 1,000 records a second per shard
        let producer = KinesisProducer(stream: "orders", kinesis: client, configuration: Self.configuration { $0.ordering = .none })
        let count = 2_500
        try await withRunning(producer) {
            for index in 0..<count { try await producer.submit(Array("record \(index)".utf8), partitionKey: "key-\(index)") }
            try await producer.flush()
        }
        let stored = try await readStream(client, "orders")
        #expect(Set(stored.map(\.data)).count == count)
        let statistics = producer.statistics
        #expect(statistics.recordsFailed == 0)
        #expect(statistics.throttled > 0)
        // Without the shard's pause every call would come straight back: hundreds of calls.
        #expect(statistics.putRecordsCalls < 80, "\(statistics.putRecordsCalls) calls for \(count) records")
    }

    @Test func aRecordThatCannotBeWrittenFailsWithTheLastError() async throws {
        let (kinesis, client) = try await Self.stream(shards: 1)
        let undeliverable = Mutex<[KinesisProducer.UndeliverableRecord]>([])
        let producer = KinesisProducer(stream: "orders", kinesis: client, configuration: Self.configuration {
            $0.recordTTL = .seconds(6)
            $0.onUndeliverable = { record in undeliverable.withLock { $0.append(record) } }
        })
        try await withRunning(producer) {
            // First one record through, so that the records below are timed by a running producer,
            // not by the start of a suite that loads the machine's two cores for seconds.
            _ = try await producer.send([0], partitionKey: "warm-up")
            var faults = Faults()
            faults.throttle["PutRecords"] = 1
            kinesis.faults = faults
            try await producer.submit([1], partitionKey: "a")
            try await producer.submit([2], partitionKey: "b")
            let error = await #expect(throws: KinesisProducerError.self) { try await producer.send([3], partitionKey: "c") }
            #expect(error?.code == .recordExpired)
            #expect(error?.underlying?.code == .provisionedThroughputExceeded)
            #expect((error?.attempts ?? 0) >= 1)
            let flush = await #expect(throws: KinesisProducerError.self) { try await producer.flush() }
            #expect(flush?.code == .undeliveredRecords)
            #expect(flush?.failedRecords == 2)
            #expect(flush?.underlying?.code == .provisionedThroughputExceeded)
            // Reported once: the next flush has nothing to report.
            try await producer.flush()
        }
        #expect(undeliverable.withLock { $0.map(\.data) }.sorted { $0[0] < $1[0] } == [[1], [2]])
        #expect(producer.statistics.recordsFailed == 3)
    }

    @Test func errorsThatRetryingCannotFixFailAtOnce() async throws {
        let (_, client) = try await Self.stream(shards: 1)
        let producer = KinesisProducer(stream: "missing", kinesis: client, configuration: Self.configuration())
        try await withRunning(producer) {
            let error = await #expect(throws: KinesisProducerError.self) { try await producer.send([1], partitionKey: "a") }
            #expect(error?.code == .recordFailed)
            #expect(error?.underlying?.code == .resourceNotFound)
            #expect(error?.attempts == 1)
        }
    }

    @Test func badInputIsRefusedAtSendAndNothingElseIsAffected() async throws {
        let (_, client) = try await Self.stream(shards: 1)
        let producer = KinesisProducer(stream: "orders", kinesis: client, configuration: Self.configuration())
        try await withRunning(producer) {
            try await producer.submit([1], partitionKey: "good-1")
            let cases: [([UInt8], String, String)] = [
                ([1], "", "the partition key is empty; accepted: 1 to 256 characters"),
                ([1], String(repeating: "é", count: 257), "the partition key has 257 characters; accepted: 1 to 256"),
                ([UInt8](repeating: 0, count: 1_048_576), "k", "the record has 1048577 bytes with its partition key; accepted: at most 1048576 (1 MiB)"),
            ]
            for (data, key, message) in cases {
                let error = await #expect(throws: KinesisProducerError.self) { try await producer.send(data, partitionKey: key) }
                #expect(error?.code == .invalidRecord)
                #expect(error?.message == message)
                #expect(throws: KinesisProducerError.self) { try producer.trySubmit(data, partitionKey: key) }
            }
            // The largest record Kinesis takes is taken.
            _ = try await producer.send([UInt8](repeating: 0, count: 1_048_575), partitionKey: "k")
            try await producer.submit([2], partitionKey: "good-2")
            try await producer.flush()
        }
        let stored = try await readStream(client, "orders")
        #expect(stored.map(\.partitionKey).sorted() == ["good-1", "good-2", "k"])
    }

    @Test func theBufferBoundMakesSendersWaitAndTrySubmitReportIt() async throws {
        let (kinesis, client) = try await Self.stream(shards: 2)
        let producer = KinesisProducer(stream: "orders", kinesis: client, configuration: Self.configuration {
            $0.backpressure.maxRecords = 20
            $0.maxRequestsInFlight = 1
        })
        // Before `run()` nothing goes out: the buffer fills.
        for index in 0..<20 { try producer.trySubmit([UInt8(index)], partitionKey: "key-\(index)") }
        let full = #expect(throws: KinesisProducerError.self) { try producer.trySubmit([99], partitionKey: "one-too-many") }
        #expect(full?.code == .bufferFull)
        var faults = Faults()
        faults.latency = .milliseconds(20)
        kinesis.faults = faults
        try await withRunning(producer) {
            // 200 more from one task: each waits for room.
            for index in 20..<220 { try await producer.submit(Array("\(index)".utf8), partitionKey: "key-\(index % 7)") }
            try await producer.flush()
        }
        let statistics = producer.statistics
        #expect(statistics.recordsSent == 220)
        #expect(statistics.peakBufferedRecords == 20)
        #expect(try await readStream(client, "orders").count == 220)
    }

    @Test func gracefulShutdownWritesEverythingHeldThenRefuses() async throws {
        let (_, client) = try await Self.stream(shards: 2)
        let producer = KinesisProducer(stream: "orders", kinesis: client, configuration: Self.configuration { $0.linger = .seconds(600) })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await producer.run() }
            for index in 0..<300 { try await producer.submit(Array("\(index)".utf8), partitionKey: "key-\(index % 13)") }
            // Nothing has lingered ten minutes: only the shutdown sends them.
            producer.triggerGracefulShutdown()
            try await group.waitForAll()
        }
        #expect(try await readStream(client, "orders").count == 300)
        let refused = await #expect(throws: KinesisProducerError.self) { try await producer.submit([1], partitionKey: "late") }
        #expect(refused?.code == .shutDown)
    }

    @Test func flushSendsWithoutLingering() async throws {
        let (_, client) = try await Self.stream(shards: 1)
        let producer = KinesisProducer(stream: "orders", kinesis: client, configuration: Self.configuration { $0.linger = .seconds(600) })
        try await withRunning(producer) {
            for index in 0..<10 { try await producer.submit([UInt8(index)], partitionKey: "k") }
            try await producer.flush()
            #expect(producer.statistics.recordsSent == 10)
        }
    }

    @Test func aReshardIsFollowedAndAggregatesStayInTheirShardsRange() async throws {
        let (_, client) = try await Self.stream(shards: 2)
        let producer = KinesisProducer(stream: "orders", kinesis: client, configuration: Self.configuration { $0.aggregation.isEnabled = true })
        let keys = 40
        try await withRunning(producer) {
            for key in 0..<keys { try await producer.submit(payload(key: key, index: 0), partitionKey: "key-\(key)") }
            try await producer.flush()
            // Split both shards: the producer's map is now stale.
            for shard in try await client.listShards(.name("orders")) {
                let range = shard.hashKeyRange
                try await client.splitShard(.name("orders"), shardID: shard.shardID, newStartingHashKey: range.startingHashKey + (range.endingHashKey - range.startingHashKey) / 2)
            }
            for index in 1..<4 {
                for key in 0..<keys { try await producer.submit(payload(key: key, index: index), partitionKey: "key-\(key)") }
                try await producer.flush()
            }
        }
        let stored = try await readStream(client, "orders")
        let shards = try await client.listShards(.name("orders"))
        #expect(shards.count == 6)
        // Every record has a copy inside its shard's range (KCL drops the others); copies outside
        // are the aggregates that landed on a child before the map was read again.
        let inRange = stored.filter { record in
            shards.first { $0.shardID == record.shardID }!.hashKeyRange.contains(HashKey.of(partitionKey: record.partitionKey))
        }
        #expect(Set(inRange.map(\.data)).count == keys * 4)
        expectKeyOrder(Array(Set(inRange)), keys: keys, perKey: 4)
        #expect(producer.statistics.shardMapRefreshes >= 2)
        #expect(producer.statistics.recordsFailed == 0)
    }
}
