import AWSCore
import Foundation
import Testing

/// Signed requests through the libcurl transport to the moto server (Kinesis and DynamoDB), with
/// credentials from each kind of provider, cross-checked with boto3.
@Suite struct MotoIntegrationTests {
    struct StreamNames: Decodable { var StreamNames: [String] }
    struct TableNames: Decodable { var TableNames: [String] }
    struct CreateStream: Encodable { var StreamName: String; var ShardCount: Int }
    struct Empty: Encodable {}
    struct ListStreamsInput: Encodable { var Limit = 10_000 }

    static func uniqueName(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    func client(_ service: AWSService, transport: (any HTTPTransport)? = nil, _ configure: (inout AWSConfiguration) throws -> Void) async throws -> AWSJSONClient {
        var configuration = AWSConfiguration(region: .usEast1, endpoint: try LocalServers.variable("KINESIS_TEST_MOTO_ENDPOINT"))
        configuration.environment = AWSEnvironment([:])
        try configure(&configuration)
        return try await AWSJSONClient(service: service, configuration: configuration, transport: transport)
    }

    /// The keys each provider kind is set up with below.
    static let keys: [ProviderKind: (id: String, secret: String, token: String?)] = [
        .staticKeys: ("AKIDSTATIC", "static-secret", "static-token"),
        .environment: ("AKIDENV", "env-secret", nil),
        .sharedFiles: ("AKIDFILE", "file-secret", nil),
        .defaultChain: ("AKIDCHAIN", "chain-secret", nil),
    ]

    /// One credential setup per provider kind the foundation has.
    enum ProviderKind: String, CaseIterable, CustomTestStringConvertible {
        case staticKeys, environment, sharedFiles, defaultChain
        var testDescription: String { rawValue }
    }

    func configure(_ kind: ProviderKind, _ configuration: inout AWSConfiguration, directory: URL) throws {
        switch kind {
        case .staticKeys:
            configuration.credentialProvider = StaticCredentialProvider.static(accessKeyID: "AKIDSTATIC", secretAccessKey: "static-secret", sessionToken: "static-token")
        case .environment:
            configuration.credentialProvider = EnvironmentCredentialProvider(environment: AWSEnvironment([
                "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret",
            ]))
        case .sharedFiles:
            let path = directory.appendingPathComponent("credentials").path
            try "[ci]\naws_access_key_id = AKIDFILE\naws_secret_access_key = file-secret\n".write(toFile: path, atomically: true, encoding: .utf8)
            configuration.credentialProvider = ProfileCredentialProvider(profile: "ci", environment: AWSEnvironment([
                "AWS_SHARED_CREDENTIALS_FILE": path, "AWS_CONFIG_FILE": directory.appendingPathComponent("none").path,
            ]))
        case .defaultChain:
            // Nothing explicit: the client builds the default chain from its environment, whose
            // profile (from AWS_PROFILE) also gives the region.
            let credentials = directory.appendingPathComponent("credentials").path
            let config = directory.appendingPathComponent("config").path
            try "[chain]\naws_access_key_id = AKIDCHAIN\naws_secret_access_key = chain-secret\n".write(toFile: credentials, atomically: true, encoding: .utf8)
            try "[profile chain]\nregion = us-east-1\n".write(toFile: config, atomically: true, encoding: .utf8)
            configuration.region = nil
            configuration.environment = AWSEnvironment([
                "AWS_PROFILE": "chain", "AWS_SHARED_CREDENTIALS_FILE": credentials, "AWS_CONFIG_FILE": config,
            ])
        }
    }

    @Test(arguments: ProviderKind.allCases)
    func kinesisAndDynamoDBWithEachProvider(_ kind: ProviderKind) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("creds-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let endpoint = try LocalServers.variable("KINESIS_TEST_MOTO_ENDPOINT")

        let recorder = RecordingTransport(CurlTransport())
        let kinesis = try await client(.kinesis, transport: recorder) { try configure(kind, &$0, directory: directory) }
        let stream = Self.uniqueName("foundation-\(kind.rawValue.lowercased())")
        _ = try await kinesis.send("CreateStream", body: Array(#"{"StreamName":"\#(stream)","ShardCount":1}"#.utf8))
        // One page large enough for every stream the other suites create on the same server.
        let ours = try await kinesis.send("ListStreams", input: ListStreamsInput(), as: StreamNames.self)
        #expect(ours.StreamNames.contains(stream))
        // boto3 sees the stream we created.
        let seenByBoto3 = try await Boto3.run("print(json.dumps(kinesis.list_streams(Limit=10000)['StreamNames']))", endpoint: endpoint)
        #expect(seenByBoto3.contains("\"\(stream)\""))

        // moto does not check signatures: botocore, signing the very requests we sent, does.
        let keys = try #require(Self.keys[kind])
        let sent = recorder.requests
        #expect(sent.count == 2)
        for request in sent {
            #expect(request.headers["authorization"]?.contains("Credential=\(keys.id)/") == true)
            #expect(try await Boto3.signature(of: request, service: "kinesis", accessKeyID: keys.id, secret: keys.secret, token: keys.token) == request.headers["authorization"].flatMap { $0.components(separatedBy: "Signature=").last })
        }

        let dynamoDB = try await client(.dynamoDB) { try configure(kind, &$0, directory: directory) }
        let table = Self.uniqueName("foundation-table")
        // boto3 creates a table; we list it.
        _ = try await Boto3.run("""
            dynamodb.create_table(TableName=\(String(reflecting: table)), KeySchema=[{"AttributeName":"leaseKey","KeyType":"HASH"}],
                AttributeDefinitions=[{"AttributeName":"leaseKey","AttributeType":"S"}], BillingMode="PAY_PER_REQUEST")
            """, endpoint: endpoint)
        let tables = try await dynamoDB.send("ListTables", input: Empty(), as: TableNames.self)
        #expect(tables.TableNames.contains(table))
    }

    @Test func serviceErrorsComeBackNamed() async throws {
        let kinesis = try await client(.kinesis) {
            $0.credentialProvider = StaticCredentialProvider.static(accessKeyID: "AKID", secretAccessKey: "secret")
        }
        let error = await #expect(throws: AWSError.self) {
            _ = try await kinesis.send("DescribeStreamSummary", body: Array(#"{"StreamName":"no-such-stream"}"#.utf8))
        }
        #expect(error?.code == .resourceNotFound)
        #expect(error?.statusCode == 400)
        #expect(error?.attempts == 1, "not retried")
        #expect(error?.description.contains("kinesis DescribeStreamSummary failed: ResourceNotFoundException") == true)
    }

    @Test func throughTheProxyToMoto() async throws {
        let kinesis = try await client(.kinesis) {
            $0.credentialProvider = StaticCredentialProvider.static(accessKeyID: "AKID", secretAccessKey: "secret")
            $0.http.proxy = try LocalServers.proxy()
        }
        let response = try await kinesis.send("ListStreams", body: Array("{}".utf8))
        #expect(response.status == 200)
        #expect(response.headers["x-fixture-proxy"] == "1")
    }

    @Test func unreachableEndpointIsRetriedThenNamed() async throws {
        let port = try freePort()
        let sleeps = Sleeps()
        let kinesis = AWSJSONClient(
            service: .kinesis, region: .usEast1,
            endpoint: Endpoint(scheme: "http", host: "127.0.0.1", port: port),
            credentialProvider: StaticCredentialProvider.static(accessKeyID: "AKID", secretAccessKey: "secret"),
            transport: CurlTransport(),
            sleep: { await sleeps.record($0) }
        )
        let error = await #expect(throws: AWSError.self) { _ = try await kinesis.send("ListStreams", body: []) }
        #expect(error?.code == .connectionFailed)
        #expect(error?.attempts == 3)
        #expect(await sleeps.count == 2)
    }
}

/// Passes requests to another transport and keeps a copy of each, as signed.
final class RecordingTransport: HTTPTransport, @unchecked Sendable {
    // `lock` guards `recorded`.
    private let lock = NSLock()
    private var recorded: [HTTPRequest] = []
    let base: any HTTPTransport
    init(_ base: any HTTPTransport) { self.base = base }
    var requests: [HTTPRequest] { lock.withLock { recorded } }
    func execute(_ request: HTTPRequest, timeout: Duration?) async throws -> HTTPResponse {
        lock.withLock { recorded.append(request) }
        return try await base.execute(request, timeout: timeout)
    }
}

actor Sleeps {
    private(set) var count = 0
    func record(_ duration: Duration) { count += 1 }
}
