import AWSCore
import Foundation
import KinesisAPI
import Testing

/// `scripts/testing/kinesis_peer.py`: boto3 and aws-kinesis-agg as an independent second client.
enum Peer {
    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/testing/kinesis_peer.py").path

    static func run<Output: Decodable>(_ arguments: [String], input: some Encodable, as: Output.Type) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script] + arguments
        var environment = ProcessInfo.processInfo.environment
        for name in ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"] { environment[name] = nil }
        process.environment = environment
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        stdin.fileHandleForWriting.write(try JSONEncoder().encode(input))
        try stdin.fileHandleForWriting.close()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "kinesis_peer.py \(arguments.first ?? "") failed: \(String(decoding: err, as: UTF8.self))")
        return try JSONDecoder().decode(Output.self, from: out)
    }

    /// A user record as the peer writes and reads it.
    struct UserRecordJSON: Codable, Equatable {
        var pk: String
        var data: String
        var ehk: String?
        var sub: UInt64?
        var aggregated: Bool?
    }

    struct RawRecordJSON: Decodable {
        var shardId: String
        var seq: String
        var pk: String
        var data: String
        var arrival: Double
        var encryption: String?
        var users: [UserRecordJSON]
    }

    struct PutResult: Decodable {
        var shardId: String
        var seq: String
    }

    struct WriteSpec: Encodable {
        var plain: [UserRecordJSON]
        var aggregated: [[UserRecordJSON]]
    }

    static func json(_ record: UserRecord) -> UserRecordJSON {
        UserRecordJSON(pk: record.partitionKey, data: Data(record.data).base64EncodedString(), ehk: record.explicitHashKey?.description)
    }
}

enum Moto {
    static func endpoint() throws -> String {
        try #require(
            ProcessInfo.processInfo.environment["KINESIS_TEST_MOTO_ENDPOINT"],
            "KINESIS_TEST_MOTO_ENDPOINT is not set: run the tests with scripts/test, which starts the moto server"
        )
    }

    static func client() async throws -> KinesisClient {
        var configuration = AWSConfiguration(region: .usEast1, endpoint: try endpoint(), credentialProvider: StaticCredentialProvider.static(accessKeyID: "AKIDTEST", secretAccessKey: "test-secret"))
        configuration.environment = AWSEnvironment([:])
        return try await KinesisClient(configuration: configuration)
    }

    static func uniqueStream(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }
}
