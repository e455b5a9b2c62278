import AWSCore
import Foundation
import Testing

@testable import KinesisAPI

/// Answers from a script and records the JSON bodies it was sent (a fake for request shapes that
/// moto does not check faithfully; see `../shared/EMULATOR-NOTES.md`).
final class ScriptedKinesis: HTTPTransport, @unchecked Sendable {
    // `lock` guards both arrays.
    private let lock = NSLock()
    private var answers: [(Int, String)]
    private var _bodies: [[String: Any]] = []
    init(_ answers: [(Int, String)]) { self.answers = answers }
    var bodies: [[String: Any]] { lock.withLock { _bodies } }

    func execute(_ request: HTTPRequest, timeout: Duration?) async throws -> HTTPResponse {
        let (status, body) = lock.withLock { () -> (Int, String) in
            _bodies.append((try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any]) ?? [:])
            return answers.isEmpty ? (200, "{}") : answers.removeFirst()
        }
        return HTTPResponse(status: status, body: Array(body.utf8))
    }

    func client() -> KinesisClient {
        KinesisClient(client: AWSJSONClient(
            service: .kinesis, region: .usEast1, endpoint: Endpoint(scheme: "http", host: "127.0.0.1", port: 1),
            credentialProvider: StaticCredentialProvider.static(accessKeyID: "AKID", secretAccessKey: "secret"),
            transport: self, sleep: { _ in }
        ))
    }
}

@Suite struct KinesisClientTests {
    static func shard(_ id: Int) -> String {
        #"{"ShardId":"shardId-\#(String(format: "%012d", id))","HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"340282366920938463463374607431768211455"},"SequenceNumberRange":{"StartingSequenceNumber":"49590338271490256608559692538361571095921575989136588898"}}"#
    }

    @Test func listShardsFollowsNextTokenAsTheAPIReferenceSays() async throws {
        let transport = ScriptedKinesis([
            (200, #"{"Shards":[\#(Self.shard(0)),\#(Self.shard(1))],"NextToken":"page-2"}"#),
            (200, #"{"Shards":[\#(Self.shard(2))]}"#),
        ])
        let shards = try await transport.client().listShards(.name("orders"), filter: .atLatest, pageSize: 2)
        #expect(shards.map(\.shardID) == ["shardId-000000000000", "shardId-000000000001", "shardId-000000000002"])
        let bodies = transport.bodies
        #expect(bodies.count == 2)
        #expect(bodies[0]["StreamName"] as? String == "orders")
        #expect((bodies[0]["ShardFilter"] as? [String: Any])?["Type"] as? String == "AT_LATEST")
        // With NextToken, the API takes neither the stream nor the filter.
        #expect(Set(bodies[1].keys) == ["NextToken", "MaxResults"])
        #expect(bodies[1]["NextToken"] as? String == "page-2")
    }

    @Test func putRecordsReportsEachEntry() async throws {
        let transport = ScriptedKinesis([(200, #"""
            {"FailedRecordCount":2,"Records":[
              {"SequenceNumber":"49590338271490256608559692538361571095921575989136588898","ShardId":"shardId-000000000000"},
              {"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"Rate exceeded for shard shardId-000000000001"},
              {"ErrorCode":"InternalFailure","ErrorMessage":"Internal service failure."}]}
            """#)])
        let entries = (0..<3).map { PutRecordsEntry(data: [UInt8($0)], partitionKey: "k\($0)", explicitHashKey: $0 == 1 ? 99 : nil) }
        let output = try await transport.client().putRecords(.name("orders"), entries: entries)
        #expect(output.failedRecordCount == 2)
        #expect(output.results[0] == .success(shardID: "shardId-000000000000", sequenceNumber: SequenceNumber("49590338271490256608559692538361571095921575989136588898")!))
        #expect(output.results[1] == .failure(errorCode: .provisionedThroughputExceeded, errorMessage: "Rate exceeded for shard shardId-000000000001"))
        #expect(output.results[2] == .failure(errorCode: .internalFailure, errorMessage: "Internal service failure."))
        let sent = try #require(transport.bodies.first?["Records"] as? [[String: Any]])
        #expect(sent[1]["ExplicitHashKey"] as? String == "99")
        #expect(sent[2]["Data"] as? String == "Ag==")
    }

    @Test func putRecordsWithTheWrongNumberOfResultsIsAnError() async throws {
        let transport = ScriptedKinesis([(200, #"{"FailedRecordCount":0,"Records":[]}"#)])
        let error = await #expect(throws: AWSError.self) {
            _ = try await transport.client().putRecords(.name("s"), entries: [PutRecordsEntry(data: [1], partitionKey: "k")])
        }
        #expect(error?.code == .malformedResponse)
    }

    @Test func namedErrorsTheRuntimeActsOn() async throws {
        for code in ["ExpiredIteratorException", "ProvisionedThroughputExceededException", "KMSThrottlingException", "KMSDisabledException"] {
            let transport = ScriptedKinesis(Array(repeating: (400, #"{"__type":"\#(code)","message":"m"}"#), count: 3))
            let error = await #expect(throws: AWSError.self) { _ = try await transport.client().getRecords(iterator: "it") }
            #expect(error?.code.rawValue == code)
        }
        #expect(AWSError.Code.kmsDisabled.rawValue == "KMSDisabledException")
        #expect(AWSError.Code.expiredIterator.rawValue == "ExpiredIteratorException")
    }

    @Test func getShardIteratorSendsThePosition() async throws {
        let transport = ScriptedKinesis(Array(repeating: (200, #"{"ShardIterator":"it"}"#), count: 3))
        let client = transport.client()
        _ = try await client.getShardIterator(.arn("arn:aws:kinesis:us-east-1:1:stream/s"), shardID: "shardId-000000000001", position: .afterSequenceNumber(SequenceNumber("12")!))
        _ = try await client.getShardIterator(.name("s"), shardID: "shardId-000000000001", position: .atTimestamp(Date(timeIntervalSince1970: 1_600_000_000.5)))
        let bodies = transport.bodies
        #expect(bodies[0]["StreamARN"] as? String == "arn:aws:kinesis:us-east-1:1:stream/s")
        #expect(bodies[0]["StreamName"] == nil)
        #expect(bodies[0]["ShardIteratorType"] as? String == "AFTER_SEQUENCE_NUMBER")
        #expect(bodies[0]["StartingSequenceNumber"] as? String == "12")
        #expect(bodies[1]["ShardIteratorType"] as? String == "AT_TIMESTAMP")
        #expect(bodies[1]["Timestamp"] as? Double == 1_600_000_000.5)
    }
}
