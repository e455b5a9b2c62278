import Benchmark
import Foundation
import BenchmarkSupport
import KinesisAPI

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal, .peakMemoryResident],
        warmupIterations: 3,
        maxDuration: .seconds(5),
        maxIterations: 10_000
    )

    for (records, size) in [(10_000, 100), (1_000, 10 * 1024)] {
        let body = getRecordsBody(records: records, size: size)
        let label = "\(records) records of \(size) B (\(body.count / 1024) KiB body)"

        Benchmark("GetRecords decode, ours: \(label)") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try GetRecordsDecoder.decode(body))
            }
        }

        let data = Data(body)
        Benchmark("GetRecords decode, Foundation JSONDecoder + base64: \(label)") { benchmark in
            for _ in benchmark.scaledIterations {
                let decoder = JSONDecoder()
                decoder.dateDecodingStrategy = .secondsSince1970
                blackHole(try decoder.decode(FoundationGetRecords.self, from: data))
            }
        }
    }

    // 100 aggregated records of 100 user records of 100 bytes each: 10,000 user records a batch.
    var generator = SystemRandomNumberGenerator()
    let aggregated: [Record] = (0..<100).map { index in
        var builder = AggregatedRecordBuilder(maxBytes: 1024 * 1024)
        for user in 0..<100 {
            builder.append(UserRecord(partitionKey: "key-\(user % 10)", data: (0..<100).map { _ in UInt8.random(in: 0...255, using: &generator) }[...]))
        }
        return Record(sequenceNumber: SequenceNumber("49590338271490256608559692538361571095921575989136\(String(format: "%06d", index))")!, partitionKey: "agg", data: builder.build()[...])
    }
    Benchmark("Deaggregate 10,000 user records (100 aggregates x 100 x 100 B)") { benchmark in
        var deaggregator = Deaggregator(shardID: "shardId-000000000000")
        var output: [DeaggregatedRecord] = []
        for _ in benchmark.scaledIterations {
            output.removeAll(keepingCapacity: true)
            deaggregator.deaggregate(aggregated, into: &output)
            blackHole(output)
        }
    }
}
