import AWSCore
import Foundation
public import KinesisAPI

/// `scripts/testing/kinesis_peer.py`: boto3 and aws-kinesis-agg as an independent second client.
public enum Peer {
    public static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/testing/kinesis_peer.py").path

    /// Runs the peer with `input` as JSON on its standard input and decodes its standard output
    /// (waited for off the cooperative pool: ``ChildProcess``).
    public static func run<Output: Decodable>(_ arguments: [String], input: some Encodable, as: Output.Type) async throws -> Output {
        let output = try await ChildProcess.run("/usr/bin/env", ["python3", script] + arguments, input: try JSONEncoder().encode(input))
        guard output.status == 0 else {
            throw SupportError("kinesis_peer.py \(arguments.first ?? "") failed: \(output.errorText)")
        }
        return try JSONDecoder().decode(Output.self, from: output.stdout)
    }

    /// A user record as the peer writes and reads it.
    public struct UserRecordJSON: Codable, Equatable, Sendable {
        public var pk: String
        public var data: String
        public var ehk: String?
        public var sub: UInt64?
        public var aggregated: Bool?

        public init(pk: String, data: String, ehk: String? = nil, sub: UInt64? = nil, aggregated: Bool? = nil) {
            self.pk = pk
            self.data = data
            self.ehk = ehk
            self.sub = sub
            self.aggregated = aggregated
        }
    }

    public struct RawRecordJSON: Decodable, Sendable {
        public var shardId: String
        public var seq: String
        public var pk: String
        public var data: String
        public var arrival: Double
        public var encryption: String?
        public var users: [UserRecordJSON]
    }

    public struct PutResult: Decodable, Sendable {
        public var shardId: String
        public var seq: String
    }

    public struct WriteSpec: Encodable {
        public var plain: [UserRecordJSON]
        public var aggregated: [[UserRecordJSON]]

        public init(plain: [UserRecordJSON], aggregated: [[UserRecordJSON]]) {
            self.plain = plain
            self.aggregated = aggregated
        }
    }

    public static func json(_ record: UserRecord) -> UserRecordJSON {
        UserRecordJSON(pk: record.partitionKey, data: Data(record.data).base64EncodedString(), ehk: record.explicitHashKey?.description)
    }
}

public enum Moto {
    public static func endpoint() throws -> String {
        guard let endpoint = ProcessInfo.processInfo.environment["KINESIS_TEST_MOTO_ENDPOINT"] else {
            throw SupportError("KINESIS_TEST_MOTO_ENDPOINT is not set: run the tests with scripts/test, which starts the moto server")
        }
        return endpoint
    }

    public static func client() async throws -> KinesisClient {
        var configuration = AWSConfiguration(region: .usEast1, endpoint: try endpoint(), credentialProvider: StaticCredentialProvider.static(accessKeyID: "AKIDTEST", secretAccessKey: "test-secret"))
        configuration.environment = AWSEnvironment([:])
        return try await KinesisClient(configuration: configuration)
    }

    public static func uniqueStream(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }
}

/// A failure of the test tooling itself (a missing server, a peer script that failed).
public struct SupportError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
