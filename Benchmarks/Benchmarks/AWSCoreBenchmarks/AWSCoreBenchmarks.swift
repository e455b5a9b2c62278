import AWSCore
import Benchmark
import Foundation

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .cpuTotal, .mallocCountTotal, .peakMemoryResident],
        warmupIterations: 10,
        maxDuration: .seconds(5),
        maxIterations: 1_000_000
    )

    // A typical GetRecords request: JSON body with a real-sized shard iterator, session credentials.
    let iterator = String(repeating: "AAAAAAAAAAGq5Yb1u0j9Tz0pQ1ZkWmZrY3Z1dW9jcmx5ZHNhb2ZyZWF0aW9u", count: 4)
    let getRecords = HTTPRequest(
        method: .post,
        endpoint: Endpoint(scheme: "https", host: "kinesis.us-east-1.amazonaws.com"),
        headers: ["Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Kinesis_20131202.GetRecords"],
        body: Array(#"{"ShardIterator":"\#(iterator)","Limit":10000}"#.utf8)
    )
    let credentials = AWSCredentials(accessKeyID: "ASIAEXAMPLEEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", sessionToken: String(repeating: "T", count: 400))
    let signer = SigV4Signer(service: "kinesis", region: "us-east-1")
    let date = Date()

    Benchmark("SigV4 sign GetRecords request") { benchmark in
        for _ in benchmark.scaledIterations {
            var request = getRecords
            blackHole(signer.sign(&request, credentials: credentials, date: date))
        }
    }

    let server = LoopbackHTTPServer()
    let transport = CurlTransport()
    let local = HTTPRequest(
        method: .post,
        endpoint: Endpoint(scheme: "http", host: "127.0.0.1", port: server.port),
        headers: ["Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Kinesis_20131202.ListStreams"],
        body: Array("{}".utf8)
    )

    Benchmark("HTTP POST to 127.0.0.1, 1 in flight") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try await transport.execute(local))
        }
    }

    // Each iteration is 16 requests in flight at once: throughput x 16 is requests per second.
    Benchmark("HTTP POST to 127.0.0.1, 16 in flight (x16 per iteration)") { benchmark in
        for _ in benchmark.scaledIterations {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<16 {
                    group.addTask { blackHole(try await transport.execute(local)) }
                }
                try await group.waitForAll()
            }
        }
    }

    let client = AWSJSONClient(
        service: .kinesis, region: .usEast1,
        endpoint: Endpoint(scheme: "http", host: "127.0.0.1", port: server.port),
        credentialProvider: StaticCredentialProvider(credentials),
        transport: transport
    )
    struct Names: Decodable { var StreamNames: [String] }
    struct Empty: Encodable {}

    Benchmark("AWSJSONClient ListStreams to 127.0.0.1 (sign, send, decode)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try await client.send("ListStreams", input: Empty(), as: Names.self))
        }
    }
}
