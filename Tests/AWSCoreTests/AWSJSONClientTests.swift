import Foundation
import Logging
import Testing

@testable import AWSCore

/// A transport that answers from a script and records what it was sent (a fake for the retry logic;
/// the real transport is tested against a real server in the integration tests).
final class ScriptedTransport: HTTPTransport, @unchecked Sendable {
    // `lock` guards `script` and `requests`.
    private let lock = NSLock()
    private var script: [Result<HTTPResponse, AWSError>]
    private var _requests: [HTTPRequest] = []

    init(_ script: [Result<HTTPResponse, AWSError>]) { self.script = script }

    var requests: [HTTPRequest] { lock.withLock { _requests } }

    func execute(_ request: HTTPRequest, timeout: Duration?) async throws -> HTTPResponse {
        let next = lock.withLock { () -> Result<HTTPResponse, AWSError> in
            _requests.append(request)
            return script.isEmpty ? .success(HTTPResponse(status: 200, body: Array("{}".utf8))) : script.removeFirst()
        }
        return try next.get()
    }

    static func error(_ status: Int, _ type: String) -> Result<HTTPResponse, AWSError> {
        .success(HTTPResponse(status: status, headers: ["x-amzn-RequestId": "req-\(type)"], body: Array(#"{"__type":"\#(type)","message":"injected"}"#.utf8)))
    }
    static func ok(_ json: String) -> Result<HTTPResponse, AWSError> {
        .success(HTTPResponse(status: 200, body: Array(json.utf8)))
    }
}

/// Records the delays the client asked to sleep instead of sleeping.
final class SleepRecorder: @unchecked Sendable {
    // `lock` guards `delays`.
    private let lock = NSLock()
    private var _delays: [Duration] = []
    var delays: [Duration] { lock.withLock { _delays } }
    func sleep(_ duration: Duration) async throws {
        lock.withLock { _delays.append(duration) }
        try Task.checkCancellation()
    }
}

/// Collects log records, to check that no secret reaches a log.
final class CapturedLogs: @unchecked Sendable {
    // `lock` guards `lines`.
    private let lock = NSLock()
    private var _lines: [String] = []
    var lines: [String] { lock.withLock { _lines } }
    func append(_ line: String) { lock.withLock { _lines.append(line) } }

    struct Handler: LogHandler {
        let sink: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            sink.append("\(event.level) \(event.message) \(event.metadata ?? [:]) \(metadata)")
        }
    }

    var logger: Logger { Logger(label: "test") { _ in Handler(sink: self) } }
}

@Suite struct AWSJSONClientTests {
    static let secret = "SECRETSECRETSECRETSECRETSECRETSECRET1234"
    static let token = "TOKENTOKENTOKENTOKEN"

    func client(_ transport: ScriptedTransport, sleeper: SleepRecorder = SleepRecorder(), retry: RetryPolicy = .standard, logs: CapturedLogs = CapturedLogs()) -> AWSJSONClient {
        AWSJSONClient(
            service: .kinesis,
            region: .usEast1,
            endpoint: Endpoint(scheme: "http", host: "127.0.0.1", port: 4566),
            credentialProvider: StaticCredentialProvider.static(accessKeyID: "AKIDTEST", secretAccessKey: Self.secret, sessionToken: Self.token),
            transport: transport,
            retryPolicy: retry,
            logger: logs.logger,
            sleep: { try await sleeper.sleep($0) },
            random: { 1.0 },
            now: { Date(timeIntervalSince1970: 1_440_938_160) }
        )
    }

    struct Names: Decodable, Equatable { var StreamNames: [String] }
    struct Empty: Encodable {}

    @Test func signsAndTargetsTheOperation() async throws {
        let transport = ScriptedTransport([ScriptedTransport.ok(#"{"StreamNames":["a","b"]}"#)])
        let output = try await client(transport).send("ListStreams", input: Empty(), as: Names.self)
        #expect(output == Names(StreamNames: ["a", "b"]))
        let request = try #require(transport.requests.first)
        #expect(request.method == .post)
        #expect(request.headers["x-amz-target"] == "Kinesis_20131202.ListStreams")
        #expect(request.headers["content-type"] == "application/x-amz-json-1.1")
        #expect(request.headers["x-amz-date"] == "20150830T123600Z")
        #expect(request.headers["x-amz-security-token"] == Self.token)
        let authorization = try #require(request.headers["authorization"])
        #expect(authorization.hasPrefix("AWS4-HMAC-SHA256 Credential=AKIDTEST/20150830/us-east-1/kinesis/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature="))
    }

    @Test func retriesThrottlingWithGrowingBackoffThenSucceeds() async throws {
        let transport = ScriptedTransport([
            ScriptedTransport.error(400, "ProvisionedThroughputExceededException"),
            ScriptedTransport.error(500, "InternalFailure"),
            ScriptedTransport.ok(#"{"StreamNames":[]}"#),
        ])
        let sleeper = SleepRecorder()
        let quota = RetryQuota(capacity: 100)
        var retry = RetryPolicy(maxAttempts: 3, quota: quota)
        retry.throttlingBaseDelay = .milliseconds(500)
        let output = try await client(transport, sleeper: sleeper, retry: retry).send("ListStreams", input: Empty(), as: Names.self)
        #expect(output.StreamNames.isEmpty)
        #expect(transport.requests.count == 3)
        // Throttled first attempt: 500 ms base; transient second: 100 ms * 2.
        #expect(sleeper.delays == [.milliseconds(500), .milliseconds(200)])
        #expect(quota.available == 100, "a success gives back what its retries took")
    }

    @Test func givesUpAfterMaxAttemptsWithTheLastError() async throws {
        let transport = ScriptedTransport(Array(repeating: ScriptedTransport.error(503, "ServiceUnavailable"), count: 5))
        let error = await #expect(throws: AWSError.self) {
            _ = try await client(transport).send("ListStreams", body: Array("{}".utf8))
        }
        #expect(transport.requests.count == 3)
        #expect(error?.code == .serviceUnavailable)
        #expect(error?.attempts == 3)
        #expect(error?.operation == "ListStreams")
        #expect(error?.requestID == "req-ServiceUnavailable")
        #expect(error?.description.contains("after 3 attempts") == true)
    }

    @Test func finalErrorsAreNotRetried() async throws {
        let transport = ScriptedTransport([ScriptedTransport.error(400, "ResourceNotFoundException")])
        let error = await #expect(throws: AWSError.self) {
            _ = try await client(transport).send("DescribeStreamSummary", body: Array("{}".utf8))
        }
        #expect(transport.requests.count == 1)
        #expect(error?.code == .resourceNotFound)
    }

    @Test(arguments: ["{\"StreamNames\": [1", #"{"StreamNames":"x"}"#, "<html>"])
    func undecodableSuccessIsReportedNotResent(_ body: String) async throws {
        // A 2xx may have had its effect (a write): it is never sent again.
        let transport = ScriptedTransport([ScriptedTransport.ok(body)])
        let error = await #expect(throws: AWSError.self) {
            _ = try await client(transport).send("ListStreams", input: Empty(), as: Names.self)
        }
        #expect(transport.requests.count == 1)
        #expect(error?.code == .malformedResponse)
        #expect(error?.message.contains("Names") == true)
    }

    @Test func resigningReplacesDateTokenAndSignature() async throws {
        let transport = ScriptedTransport([ScriptedTransport.error(500, "InternalFailure"), ScriptedTransport.ok("{}")])
        _ = try await client(transport).send("ListStreams", body: [])
        let retried = try #require(transport.requests.last)
        #expect(retried.headers.values(for: "x-amz-date").count == 1)
        #expect(retried.headers.values(for: "x-amz-security-token") == [Self.token])
        #expect(retried.headers.values(for: "authorization").count == 1)
    }

    @Test func emptyQuotaStopsRetries() async throws {
        let transport = ScriptedTransport(Array(repeating: ScriptedTransport.error(500, "InternalFailure"), count: 10))
        let quota = RetryQuota(capacity: 5)
        let retry = RetryPolicy(maxAttempts: 5, quota: quota)
        let first = await #expect(throws: AWSError.self) { _ = try await client(transport, retry: retry).send("ListStreams", body: []) }
        #expect(transport.requests.count == 2, "one retry took the whole quota")
        #expect(first?.message.contains("retry quota exhausted") == true)
        _ = await #expect(throws: AWSError.self) { _ = try await client(transport, retry: retry).send("ListStreams", body: []) }
        #expect(transport.requests.count == 3, "no retry at all with the quota empty")
    }

    @Test func cancellationDuringBackoffStops() async throws {
        let transport = ScriptedTransport(Array(repeating: ScriptedTransport.error(500, "InternalFailure"), count: 10))
        // The sleep cancels its own task, as a shutdown would while the client waits to retry.
        let client = AWSJSONClient(
            service: .kinesis, region: .usEast1, endpoint: Endpoint(scheme: "http", host: "127.0.0.1", port: 4566),
            credentialProvider: StaticCredentialProvider.static(accessKeyID: "AKIDTEST", secretAccessKey: Self.secret),
            transport: transport,
            sleep: { _ in
                withUnsafeCurrentTask { $0?.cancel() }
                try Task.checkCancellation()
            }
        )
        await #expect(throws: CancellationError.self) { _ = try await client.send("ListStreams", body: []) }
        #expect(transport.requests.count == 1, "no attempt after the cancelled backoff")
    }

    @Test func signatureErrorEchoingTheTokenIsScrubbed() async throws {
        // What AWS answers to a bad signature: it quotes the canonical request, token included.
        let body = #"{"__type":"InvalidSignatureException","message":"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String for this request should have been\n'POST\n/\n\ncontent-type:application/x-amz-json-1.1\nhost:kinesis.us-east-1.amazonaws.com\nx-amz-date:20150830T123600Z\nx-amz-security-token:\#(Self.token)\n'\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n20150830T123600Z'\n"}"#
        let transport = ScriptedTransport([.success(HTTPResponse(status: 403, body: Array(body.utf8)))])
        let error = await #expect(throws: AWSError.self) { _ = try await client(transport).send("ListStreams", body: []) }
        #expect(error?.code == .invalidSignature)
        #expect(error?.message.hasPrefix("The request signature we calculated does not match") == true)
        #expect(error.map { "\($0)" }?.contains(Self.token) == false)
        // Even a message that is not cut at a known marker loses the token and the secret.
        let plain = #"{"__type":"AccessDeniedException","message":"token \#(Self.token) and secret \#(Self.secret)"}"#
        let second = ScriptedTransport([.success(HTTPResponse(status: 400, body: Array(plain.utf8)))])
        let other = await #expect(throws: AWSError.self) { _ = try await client(second).send("ListStreams", body: []) }
        #expect(other?.message == "token <redacted> and secret <redacted>")
    }

    @Test func secretsStayOutOfLogsAndErrors() async throws {
        let logs = CapturedLogs()
        let transport = ScriptedTransport([
            ScriptedTransport.error(500, "InternalFailure"),
            ScriptedTransport.error(400, "ProvisionedThroughputExceededException"),
            ScriptedTransport.error(400, "AccessDeniedException"),
        ])
        let error = await #expect(throws: AWSError.self) {
            _ = try await client(transport, logs: logs).send("ListStreams", body: [])
        }
        #expect(logs.lines.count == 2, "one log line per retry")
        for text in logs.lines + [error.map { "\($0)" } ?? "", String(reflecting: error as Any)] {
            #expect(!text.contains(Self.secret))
            #expect(!text.contains(Self.token))
        }
    }
}
