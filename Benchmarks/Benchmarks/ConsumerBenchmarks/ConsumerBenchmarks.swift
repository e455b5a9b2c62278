import Benchmark
import Foundation
@_spi(Benchmarks) import KinesisConsumer
import KinesisAPI
import KinesisLeases

/// The consumer runtime alone: records come from memory (no HTTP, no JSON), through the shard
/// consumers, the buffers and the envelope sequence, to a `for try await` loop.
struct InMemorySource: KinesisReading {
    let shards: [Shard]
    let records: [Record]
    let idle: Bool

    init(shardCount: Int, recordsPerCall: Int, idle: Bool) {
        shards = (0..<shardCount).map { index in
            Shard(
                shardID: String(format: "shardId-%012d", index),
                hashKeyRange: HashKeyRange(startingHashKey: 0, endingHashKey: .max),
                sequenceNumberRange: SequenceNumberRange(startingSequenceNumber: SequenceNumber("1")!)
            )
        }
        let payload = [UInt8](repeating: 0x61, count: 100 * recordsPerCall)
        let arrival = Date(timeIntervalSince1970: 1_700_000_000)
        var records: [Record] = []
        for index in 0..<recordsPerCall {
            let sequence: Int = 49_000_000_000 + index
            let start: Int = index * 100
            let slice: ArraySlice<UInt8> = payload[start..<(start + 100)]
            records.append(Record(sequenceNumber: SequenceNumber(String(sequence))!, partitionKey: "key-\(index % 64)", data: slice, approximateArrivalTimestamp: arrival))
        }
        self.records = records
        self.idle = idle
    }

    func listShards(_ stream: StreamIdentifier) async throws -> [Shard] { shards }

    func getShardIterator(_ stream: StreamIdentifier, shardID: String, position: IteratorPosition) async throws -> String { shardID }

    func getRecords(iterator: String, limit: Int, streamARN: String?) async throws -> GetRecordsOutput {
        if idle { return GetRecordsOutput(records: [], nextShardIterator: iterator, millisBehindLatest: 0, childShards: nil) }
        return GetRecordsOutput(records: records, nextShardIterator: iterator, millisBehindLatest: 60_000, childShards: nil)
    }
}

func configuration(idle: Bool) -> KinesisConsumer.Configuration {
    var configuration = KinesisConsumer.Configuration()
    configuration.leaseStorage = .store(InMemoryLeaseStore())
    configuration.workerID = "bench"
    configuration.initialPosition = .trimHorizon
    configuration.polling.maxRecords = 10_000
    configuration.polling.maxCallsPerSecondPerShard = 1_000_000
    configuration.polling.idleTimeBetweenReads = .seconds(idle ? 1 : 0)
    return configuration
}

/// Runs a consumer until the loop has seen `count` envelopes, then shuts it down.
func consume(shards: Int, count: Int) async throws {
    let source = InMemorySource(shardCount: shards, recordsPerCall: 1_000, idle: false)
    let consumer = KinesisConsumer(stream: "bench", application: "bench", reader: source, configuration: configuration(idle: false))
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await consumer.run() }
        var seen = 0
        for try await envelope in consumer.envelopes {
            blackHole(envelope.data.count)
            seen += 1
            if seen == count { break }
        }
        consumer.triggerGracefulShutdown()
        try await group.waitForAll()
    }
}

/// Resident memory (from /proc/self/statm), in bytes.
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    return (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .peakMemoryResident],
        scalingFactor: .mega,
        maxDuration: .seconds(20),
        maxIterations: 5
    )

    for shards in [1, 64] {
        Benchmark("Envelopes through the sequence, \(shards) shard\(shards == 1 ? "" : "s")") { benchmark in
            try await consume(shards: shards, count: benchmark.scaledIterations.count)
        }
    }

    // Memory per idle shard: 1,000 shards held and polled, nothing to read. Reported as a custom
    // metric: resident bytes added per shard once every shard has polled.
    Benchmark(
        "Memory per idle shard (1,000 idle shards)",
        configuration: .init(metrics: [.custom("bytes per idle shard", polarity: .prefersSmaller, useScalingFactor: false)], scalingFactor: .one, maxIterations: 3)
    ) { benchmark in
        let shardCount = 1_000
        let source = InMemorySource(shardCount: shardCount, recordsPerCall: 0, idle: true)
        let consumer = KinesisConsumer(stream: "idle", application: "bench", reader: source, configuration: configuration(idle: true))
        let before = residentBytes()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await consumer.run() }
            var iterator: Envelopes.AsyncIterator? = consumer.envelopes.makeAsyncIterator()
            _ = iterator
            while consumer.statistics.getRecordsCalls < shardCount * 2 {
                try await Task.sleep(for: .milliseconds(50))
            }
            benchmark.measurement(.custom("bytes per idle shard", polarity: .prefersSmaller, useScalingFactor: false), (residentBytes() - before) / shardCount)
            iterator = nil
            consumer.triggerGracefulShutdown()
            try await group.waitForAll()
        }
    }
}
