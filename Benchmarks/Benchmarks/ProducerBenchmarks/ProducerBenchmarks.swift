import AWSCore
import Benchmark
import KinesisAPI
import KinesisProducer

/// Answers `ListShards` with one shard and every `PutRecords` with success for each entry: the
/// producer's batching, aggregation, JSON encoding and signing, without a network or a server.
struct AcceptingTransport: HTTPTransport {
    static let shards = Array(#"{"Shards":[{"ShardId":"shardId-000000000000","HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"340282366920938463463374607431768211455"},"SequenceNumberRange":{"StartingSequenceNumber":"1"}}]}"#.utf8)
    /// `PutRecords` answers for 1 to 500 entries.
    static let answers: [[UInt8]] = (0...500).map { count in
        let result = #"{"SequenceNumber":"49590338271490256608559692538361571095921575989136588898","ShardId":"shardId-000000000000"}"#
        return Array(#"{"FailedRecordCount":0,"Records":[\#(Array(repeating: result, count: count).joined(separator: ","))]}"#.utf8)
    }
    static let partitionKeyField = Array(#""PartitionKey""#.utf8)

    func execute(_ request: HTTPRequest, timeout: Duration?) async throws -> HTTPResponse {
        let headers: HTTPHeaders = ["Content-Type": "application/x-amz-json-1.1"]
        guard request.headers["x-amz-target"] == "Kinesis_20131202.PutRecords" else { return HTTPResponse(status: 200, headers: headers, body: Self.shards) }
        // Count the entries: one "PartitionKey" field each.
        var count = 0
        request.body.withUnsafeBufferPointer { body in
            let field = Self.partitionKeyField
            var index = 0
            while index + field.count <= body.count {
                if body[index] == 0x22, body[index + 1] == 0x50, Array(body[index..<(index + field.count)]) == field {
                    count += 1
                    index += field.count
                } else {
                    index += 1
                }
            }
        }
        return HTTPResponse(status: 200, headers: headers, body: Self.answers[min(count, 500)])
    }
}

func produce(count: Int, aggregate: Bool) async throws {
    let client = KinesisClient(client: AWSJSONClient(
        service: .kinesis, region: .usEast1, endpoint: Endpoint(host: "kinesis.benchmark.invalid"),
        credentialProvider: StaticCredentialProvider.static(accessKeyID: "AKIDBENCH", secretAccessKey: "bench"),
        transport: AcceptingTransport(), retryPolicy: .none, sleep: { _ in }
    ))
    var configuration = KinesisProducer.Configuration()
    configuration.aggregation.isEnabled = aggregate
    configuration.ordering = .none
    let producer = KinesisProducer(stream: "bench", kinesis: client, configuration: configuration)
    let data = [UInt8](repeating: 0x61, count: 100)
    let keys = (0..<1024).map { "key-\($0)" }
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await producer.run() }
        for index in 0..<count { try await producer.submit(data, partitionKey: keys[index & 1023]) }
        try await producer.flush()
        producer.triggerGracefulShutdown()
        try await group.waitForAll()
    }
    precondition(producer.statistics.recordsSent == count, "records went missing")
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .peakMemoryResident],
        scalingFactor: .mega,
        maxDuration: .seconds(20),
        maxIterations: 5
    )
    // 100-byte records, 1,024 partition keys, submitted from one task, flushed at the end.
    for aggregate in [false, true] {
        Benchmark("Producer: records through batching\(aggregate ? " and aggregation" : ""), no network (100 B)") { benchmark in
            try await produce(count: benchmark.scaledIterations.count, aggregate: aggregate)
        }
    }
}
