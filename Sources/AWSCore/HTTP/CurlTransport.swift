import Synchronization

/// The HTTP transport on libcurl: one curl multi handle driven by one dedicated thread, bridged to
/// async/await with continuations.
///
/// Many requests run at once on the one thread; connections are kept alive and reused across
/// requests (the multi handle owns the connection cache). The thread never runs Swift concurrency
/// work and the cooperative pool never blocks on curl.
///
/// - Important: Safe to share between tasks. The loop thread stops when the transport is
///   deinitialised or ``shutdown()`` is called; requests in flight then fail with
///   ``AWSError/Code/transportShutdown``.
public final class CurlTransport: HTTPTransport {
    /// Transport settings.
    public struct Configuration: Sendable {
        /// How long establishing a connection (TCP and TLS) may take.
        public var connectTimeout: Duration = .seconds(10)
        /// How long a whole request may take, unless a call passes its own timeout.
        public var requestTimeout: Duration = .seconds(60)
        /// How long a connection may go without sending or receiving a byte before the request
        /// fails (Java's socket timeout; whole seconds, rounded up); `nil` for no such limit.
        public var idleTimeout: Duration?
        /// The largest response body accepted; a larger one fails with ``AWSError/Code/responseTooLarge``.
        /// The default leaves room for a 10 MB `GetRecords` response in base64.
        public var maxResponseBytes: Int = 32 * 1024 * 1024
        /// An HTTP proxy; `nil` for direct connections. Proxy environment variables are not read.
        public var proxy: Proxy?
        /// TLS settings.
        public var tls: TLS = TLS()
        /// The `User-Agent` header.
        public var userAgent: String = "swift-kinesis-client/0.1"
        /// The most connections open at once, over all hosts; `nil` for curl's default (no limit).
        public var maxConnections: Int?
        /// Ask for gzip/deflate-compressed responses and decompress them.
        public var acceptCompressedResponses: Bool = false

        public init() {}
    }

    /// An HTTP proxy: requests go to it in absolute form (and through `CONNECT` for https).
    public struct Proxy: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
        public var host: String
        public var port: Int
        public var username: String?
        /// - Important: Never shown in ``description``.
        public var password: String?
        /// Hosts reached directly: names (a leading `.` or none matches sub-domains), IPs, or `*`.
        public var noProxy: [String]

        public init(host: String, port: Int, username: String? = nil, password: String? = nil, noProxy: [String] = []) {
            self.host = host
            self.port = port
            self.username = username
            self.password = password
            self.noProxy = noProxy
        }

        public var description: String {
            "Proxy(\(host):\(port)\(username.map { ", username: \($0), password: <redacted>" } ?? ""))"
        }
        public var debugDescription: String { description }
        public var customMirror: Mirror {
            Mirror(self, children: ["host": host, "port": port, "username": username as Any, "password": "<redacted>", "noProxy": noProxy])
        }
    }

    /// TLS settings.
    public struct TLS: Sendable, Hashable {
        /// Verify the server's certificate chain and host name. Turn off only for local testing.
        public var verifyPeer: Bool = true
        /// A PEM file of CA certificates to trust instead of the system's.
        public var caBundlePath: String?
        public init(verifyPeer: Bool = true, caBundlePath: String? = nil) {
            self.verifyPeer = verifyPeer
            self.caBundlePath = caBundlePath
        }
    }

    /// The settings this transport was created with.
    public let configuration: Configuration
    private let loop: CurlMultiLoop

    /// Creates a transport and starts its loop thread.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        self.loop = CurlMultiLoop(maxConnections: configuration.maxConnections)
    }

    deinit {
        loop.shutdown()
    }

    /// Stops the loop thread; requests in flight fail with ``AWSError/Code/transportShutdown``.
    /// Calling it again does nothing.
    public func shutdown() {
        loop.shutdown()
    }

    /// How many new connections the transport has opened so far (a reused connection adds nothing).
    public var connectionsOpened: Int { loop.connectionsOpened.load(ordering: .relaxed) }

    public func execute(_ request: HTTPRequest, timeout: Duration? = nil) async throws -> HTTPResponse {
        let transfer = CurlTransfer(request: request, configuration: configuration, timeout: timeout ?? configuration.requestTimeout)
        let loop = self.loop
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                loop.submit(transfer, continuation: continuation)
            }
        } onCancel: {
            loop.cancel(transfer)
        }
    }
}
