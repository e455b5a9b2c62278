public import AWSCore
#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// `scripts/testing/fault_proxy.py`: an HTTP forward proxy on 127.0.0.1 that injects AWS faults
/// (throttling, 500s, connection resets, failed `PutRecords` entries, latency, outages) into the
/// calls of clients that use it through their ordinary proxy settings.
// Process is only terminated and waited for, which it allows from any thread.
public final class FaultProxy: @unchecked Sendable {
    public static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/testing/fault_proxy.py").path

    /// Faults for one operation (`PutRecords`, `GetRecords`, `PutItem`, or `*` for any), as rates.
    public struct Faults: Codable, Sendable {
        public var throttle: Double?
        public var error500: Double?
        public var reset: Double?
        public var resetAfter: Double?
        public var failEntries: Double?
        public var latencyMilliseconds: Int?

        public init(throttle: Double? = nil, error500: Double? = nil, reset: Double? = nil, resetAfter: Double? = nil, failEntries: Double? = nil, latencyMilliseconds: Int? = nil) {
            self.throttle = throttle
            self.error500 = error500
            self.reset = reset
            self.resetAfter = resetAfter
            self.failEntries = failEntries
            self.latencyMilliseconds = latencyMilliseconds
        }

        enum CodingKeys: String, CodingKey {
            case throttle, error500, reset, resetAfter = "reset_after", failEntries = "fail_entries", latencyMilliseconds = "latency_ms"
        }
    }

    /// What the proxy saw and did.
    public struct Stats: Decodable, Sendable {
        public var requests: Int
        public var forwarded: Int
        /// Counts by `<operation>.<fault>` (and `outage.reset`).
        public var injected: [String: Int]
    }

    private struct Rules: Encodable {
        var seed: Int
        var operations: [String: Faults]
    }

    /// Where clients send their requests: use it as their proxy.
    public let proxy: CurlTransport.Proxy
    private let process: Process
    private let control: CurlTransport

    /// Starts a proxy with these faults; stop it with ``stop()``.
    public static func start(seed: Int = 1, faults: [String: Faults]) async throws -> FaultProxy {
        let portFile = FileManager.default.temporaryDirectory.appendingPathComponent("fault-proxy-\(UUID().uuidString).json").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let rules = String(decoding: try JSONEncoder().encode(Rules(seed: seed, operations: faults)), as: UTF8.self)
        process.arguments = ["python3", script, "--port-file", portFile, "--rules", rules]
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Bounded: 10 s for Python to start and listen.
        for _ in 0..<200 {
            if let data = FileManager.default.contents(atPath: portFile),
                let ports = try? JSONDecoder().decode([String: Int].self, from: data), let port = ports["proxy"] {
                try? FileManager.default.removeItem(atPath: portFile)
                return FaultProxy(process: process, port: port)
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.terminate()
        throw SupportError("fault_proxy.py did not start (exit status \(process.isRunning ? "-" : "\(process.terminationStatus)"))")
    }

    private init(process: Process, port: Int) {
        self.process = process
        self.proxy = CurlTransport.Proxy(host: "127.0.0.1", port: port)
        self.control = CurlTransport()
    }

    /// Replaces the faults (and restarts the seeded draws).
    public func setFaults(seed: Int = 1, _ faults: [String: Faults]) async throws {
        let body = Array(try JSONEncoder().encode(Rules(seed: seed, operations: faults)))
        let response = try await control.execute(HTTPRequest(method: .post, endpoint: endpoint, path: "/__faults", body: body))
        guard response.status == 200 else { throw SupportError("fault proxy refused the rules: \(String(decoding: response.body, as: UTF8.self))") }
    }

    /// Resets every connection for `seconds` from now.
    public func outage(seconds: Double) async throws {
        _ = try await control.execute(HTTPRequest(method: .post, endpoint: endpoint, path: "/__outage", query: "seconds=\(seconds)"))
    }

    public func stats() async throws -> Stats {
        let response = try await control.execute(HTTPRequest(method: .get, endpoint: endpoint, path: "/__stats"))
        return try JSONDecoder().decode(Stats.self, from: Data(response.body))
    }

    private var endpoint: Endpoint { Endpoint(scheme: "http", host: "127.0.0.1", port: proxy.port) }

    /// Stops the proxy: SIGTERM, then SIGKILL if it is still there after 5 s. Polls instead of
    /// `waitUntilExit()`, which spins a thread on Linux.
    public func stop() async {
        control.shutdown()
        process.terminate()
        for _ in 0..<100 where process.isRunning {
            try? await Task.sleep(for: .milliseconds(50))
        }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
