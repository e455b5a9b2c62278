import Benchmark
import Foundation
import KinesisAPI

/// A GetRecords response body as Kinesis writes it: 56-digit sequence numbers, scientific-notation
/// arrival times, UUID-sized partition keys, base64 data of `size` random bytes.
func getRecordsBody(records: Int, size: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    var text = #"{"MillisBehindLatest":0,"NextShardIterator":"AAAAAAAAAAHsW8zCWf9164uy8Epue6WS3w6wmj4a4USt+CNvMd6uXQ+HL5vAJMznqqC0DLKsIjuoiTi1BpT6nW0LN2M2D56zM5H8anHm30Gbri9ua+qaGgj+3XTyvbhpERfrezgLHbPB/rIcVpykJbaSj5tmcXYRmFnqZBEyHwtZYFmh6hvWVFkIwLuMZLMrpWhG5r5hzkE=","Records":["#
    for index in 0..<records {
        let data = Data((0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }).base64EncodedString()
        if index > 0 { text += "," }
        text += #"{"SequenceNumber":"4959033827149025660855969253836157109592157598913\#(String(format: "%07d", index))","ApproximateArrivalTimestamp":1.7\#(String(format: "%08d", index))E9,"Data":"\#(data)","PartitionKey":"\#(UUID().uuidString)"}"#
    }
    return Array((text + "]}").utf8)
}

/// What Foundation offers: `JSONDecoder` (whose `Data` strategy is `Data(base64Encoded:)`).
struct FoundationGetRecords: Decodable {
    struct Item: Decodable {
        var SequenceNumber: String
        var ApproximateArrivalTimestamp: Date
        var Data: Data
        var PartitionKey: String
    }
    var Records: [Item]
    var NextShardIterator: String?
    var MillisBehindLatest: Int64?
}

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
