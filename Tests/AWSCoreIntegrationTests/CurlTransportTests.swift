import AWSCore
import Foundation
import Testing

/// The libcurl transport against a real HTTP server on 127.0.0.1 (the fixture `scripts/test` starts).
@Suite struct CurlTransportTests {
    func get(_ path: String, query: String = "") throws -> HTTPRequest {
        HTTPRequest(method: .get, endpoint: try LocalServers.origin(), path: path, query: query)
    }

    @Test func sendsMethodHeadersAndBody() async throws {
        let transport = CurlTransport()
        let body = Array("{\"hello\":\"world\"}".utf8)
        let request = HTTPRequest(
            method: .post, endpoint: try LocalServers.origin(), path: "/echo", query: "a=1",
            headers: ["Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Kinesis_20131202.ListStreams"],
            body: body
        )
        let response = try await transport.execute(request)
        #expect(response.status == 200)
        let echo = try response.json()
        #expect(echo["method"] as? String == "POST")
        #expect(echo["path"] as? String == "/echo")
        #expect(echo["query"] as? String == "a=1")
        #expect(echo["bodyLength"] as? Int == body.count)
        #expect(echo["bodySHA256"] as? String == Hashing.hex(Hashing.sha256(body)))
        let headers = try #require(echo["headers"] as? [String: String])
        #expect(headers["x-amz-target"] == "Kinesis_20131202.ListStreams")
        #expect(headers["content-type"] == "application/x-amz-json-1.1")
        #expect(headers["user-agent"] == CurlTransport.Configuration().userAgent)
        #expect(headers["expect"] == nil, "no 100-continue round trip")
    }

    @Test func sequentialRequestsReuseOneConnection() async throws {
        let transport = CurlTransport()
        var connectionIDs: Set<Int> = []
        var counts: [Int] = []
        for _ in 0..<10 {
            let echo = try await transport.execute(try get("/echo")).json()
            connectionIDs.insert(try #require(echo["connectionID"] as? Int))
            counts.append(try #require(echo["requestsOnConnection"] as? Int))
        }
        #expect(connectionIDs.count == 1, "the server saw connections \(connectionIDs)")
        #expect(counts == Array(1...10))
        #expect(transport.connectionsOpened == 1)
    }

    @Test func manyRequestsInFlightAtOnce() async throws {
        let transport = CurlTransport()
        let request = try get("/delay", query: "ms=500")
        let ids = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<16 {
                group.addTask {
                    let response = try await transport.execute(request)
                    #expect(response.status == 200)
                    #expect(response.body == Array("ok".utf8))
                    return 1
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(ids == 16)
        // Sixteen requests that each hold their connection for 500 ms ran side by side: curl had to
        // open a connection for each rather than queue them on one.
        #expect(transport.connectionsOpened == 16)
    }

    @Test func requestTimeout() async throws {
        let transport = CurlTransport()
        let error = await #expect(throws: AWSError.self) {
            _ = try await transport.execute(try get("/stall"), timeout: .milliseconds(300))
        }
        #expect(error?.code == .timeout)
        #expect(error?.description.contains("timed out") == true)
    }

    @Test func connectTimeout() async throws {
        // A listener whose accept queue is full and never drained: Linux drops further SYNs, so a
        // new connection neither succeeds nor fails until the connect timeout ends it.
        let listener = try fullListener()
        defer { for fd in listener.fds { close(fd) } }
        var configuration = CurlTransport.Configuration()
        configuration.connectTimeout = .milliseconds(300)
        let transport = CurlTransport(configuration: configuration)
        let request = HTTPRequest(method: .get, endpoint: Endpoint(scheme: "http", host: "127.0.0.1", port: listener.port))
        let error = await #expect(throws: AWSError.self) { _ = try await transport.execute(request, timeout: .seconds(30)) }
        #expect(error?.code == .timeout)
        #expect(error?.message.contains("Failed to connect") == true, "curl names the connect phase: \(error?.message ?? "")")
    }

    @Test func connectionRefused() async throws {
        // A port nothing listens on: bind one, note it, close it.
        let port = try freePort()
        let transport = CurlTransport()
        let request = HTTPRequest(method: .get, endpoint: Endpoint(scheme: "http", host: "127.0.0.1", port: port))
        let error = await #expect(throws: AWSError.self) { _ = try await transport.execute(request) }
        #expect(error?.code == .connectionFailed)
    }

    @Test func cancellationAbortsATransferInFlight() async throws {
        let transport = CurlTransport()
        let counter = CurlTransport()
        let before = try await counter.execute(try get("/connections")).json()["accepted"] as? Int ?? 0
        let stall = try get("/stall")
        let task = Task { try await transport.execute(stall) }
        // Wait (bounded) until the server has accepted the stalled request's connection.
        var accepted = before
        for _ in 0..<200 where accepted < before + 2 {
            accepted = try await counter.execute(try get("/connections")).json()["accepted"] as? Int ?? 0
        }
        #expect(accepted >= before + 2)
        task.cancel()
        // /stall never answers; only a prompt abort ends the call with CancellationError (otherwise
        // the server gives up after 30 s and curl reports an empty reply).
        await #expect(throws: CancellationError.self) { try await task.value }
    }

    @Test func cancelledBeforeStartNeverSends() async throws {
        let transport = CurlTransport()
        let request = try get("/echo")
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await transport.execute(request)
        }
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(transport.connectionsOpened == 0)
    }

    @Test func largeBody() async throws {
        let transport = CurlTransport()
        let size = 20 * 1024 * 1024
        let response = try await transport.execute(try get("/bytes", query: "n=\(size)"))
        #expect(response.status == 200)
        #expect(response.body.count == size)
        let wrong = stride(from: 0, to: size, by: 4093).first { response.body[$0] != UInt8($0 % 251) }
        #expect(wrong == nil)
    }

    @Test func responseSizeLimit() async throws {
        var configuration = CurlTransport.Configuration()
        configuration.maxResponseBytes = 1024 * 1024
        let transport = CurlTransport(configuration: configuration)
        let error = await #expect(throws: AWSError.self) {
            _ = try await transport.execute(try get("/bytes", query: "n=\(2 * 1024 * 1024)"))
        }
        #expect(error?.code == .responseTooLarge)
        // At the limit exactly is fine.
        let exact = try await transport.execute(try get("/bytes", query: "n=\(1024 * 1024)"))
        #expect(exact.body.count == 1024 * 1024)
    }

    @Test func connectionResetMidResponse() async throws {
        let transport = CurlTransport()
        let error = await #expect(throws: AWSError.self) { _ = try await transport.execute(try get("/reset")) }
        #expect(error?.code == .connectionLost)
        // The transport is still usable afterwards.
        #expect(try await transport.execute(try get("/echo")).status == 200)
    }

    @Test func errorStatusIsAResponse() async throws {
        let response = try await CurlTransport().execute(try get("/status", query: "code=503"))
        #expect(response.status == 503)
        #expect(try response.json()["status"] as? Int == 503)
    }

    @Test func throughAnAuthenticatingProxy() async throws {
        var configuration = CurlTransport.Configuration()
        configuration.proxy = try LocalServers.proxy()
        let transport = CurlTransport(configuration: configuration)
        let response = try await transport.execute(try get("/echo"))
        #expect(response.status == 200)
        #expect(response.headers["x-fixture-proxy"] == "1")
        let headers = try #require(try response.json()["headers"] as? [String: String])
        #expect(headers["via"]?.contains("fixture-proxy") == true)
        #expect(headers["proxy-authorization"] == nil, "the proxy consumes its credentials")
    }

    @Test func proxyRejectsWrongCredentials() async throws {
        var configuration = CurlTransport.Configuration()
        configuration.proxy = try LocalServers.proxy()
        configuration.proxy?.password = "wrong"
        let response = try await CurlTransport(configuration: configuration).execute(try get("/echo"))
        #expect(response.status == 407)
        #expect(configuration.proxy.map { "\($0)" }?.contains("wrong") == false, "the password stays out of descriptions")
    }

    @Test func noProxyListGoesDirect() async throws {
        var configuration = CurlTransport.Configuration()
        configuration.proxy = try LocalServers.proxy()
        configuration.proxy?.noProxy = ["127.0.0.1"]
        let response = try await CurlTransport(configuration: configuration).execute(try get("/echo"))
        #expect(response.status == 200)
        #expect(response.headers["x-fixture-proxy"] == nil)
    }

    @Test func shutDownTransportFailsClearly() async throws {
        let transport = CurlTransport()
        transport.shutdown()
        let error = await #expect(throws: AWSError.self) { _ = try await transport.execute(try get("/echo")) }
        #expect(error?.code == .transportShutdown)
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on (bound, then closed).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    try #require(fd >= 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    try #require(bound == 0)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A listening socket on 127.0.0.1 with backlog 0 whose accept queue has been filled by connections
/// nobody accepts. Returns every descriptor to close, and the port.
func fullListener() throws -> (fds: [Int32], port: Int) {
    let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    try #require(listener >= 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    try #require(withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } } == 0)
    try #require(listen(listener, 0) == 0)
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
    var fds = [listener]
    // Fill the queue: non-blocking connects until one stays in progress.
    for _ in 0..<8 {
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        fds.append(client)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, length) } }
    }
    return (fds, Int(UInt16(bigEndian: address.sin_port)))
}
