#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A service endpoint: scheme, host and optional port, parsed from a URL such as
/// `https://kinesis.us-east-1.amazonaws.com` or `http://127.0.0.1:5000`.
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    /// `http` or `https`.
    public var scheme: String
    /// The host name or IP address (IPv6 without brackets).
    public var host: String
    /// The port, when it is not the scheme's default.
    public var port: Int?
    /// A path prefix from the URL (without a trailing `/`), usually empty.
    public var basePath: String

    /// Creates an endpoint from its parts.
    public init(scheme: String = "https", host: String, port: Int? = nil, basePath: String = "") {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.basePath = basePath
    }

    /// Parses an endpoint URL; throws ``AWSError/Code/invalidConfiguration`` naming what is wrong.
    public init(url text: String) throws(AWSError) {
        let trimmed = text.trimmingASCIIWhitespace()
        guard let schemeEnd = trimmed.firstRange(of: "://") else {
            throw .configuration("endpoint URL '\(text)' has no scheme: expected http://HOST[:PORT] or https://HOST[:PORT]")
        }
        let scheme = trimmed[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else {
            throw .configuration("endpoint URL '\(text)' has scheme '\(scheme)': only http and https are accepted")
        }
        var rest = trimmed[schemeEnd.upperBound...]
        var basePath = ""
        if let slash = rest.firstIndex(of: "/") {
            basePath = String(rest[slash...])
            rest = rest[..<slash]
            while basePath.hasSuffix("/") { basePath.removeLast() }
        }
        if rest.contains("@") {
            // Do not echo the URL: the user info may hold a password.
            throw .configuration("an endpoint URL must not contain user info (user:password@)")
        }
        if rest.contains("?") || rest.contains("#") {
            throw .configuration("endpoint URL '\(text)' must not contain a query or a fragment")
        }
        var host = Substring(rest)
        var port: Int?
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else {
                throw .configuration("endpoint URL '\(text)' has an unclosed IPv6 address")
            }
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") {
                guard let value = Int(after.dropFirst()), (1...65535).contains(value) else {
                    throw .configuration("endpoint URL '\(text)' has an invalid port")
                }
                port = value
            } else if !after.isEmpty {
                throw .configuration("endpoint URL '\(text)' is malformed after the IPv6 address")
            }
            host = host[host.index(after: host.startIndex)..<close]
        } else if let colon = host.lastIndex(of: ":") {
            guard let value = Int(host[host.index(after: colon)...]), (1...65535).contains(value) else {
                throw .configuration("endpoint URL '\(text)' has an invalid port '\(host[host.index(after: colon)...])'")
            }
            port = value
            host = host[..<colon]
        }
        guard !host.isEmpty else {
            throw .configuration("endpoint URL '\(text)' has no host")
        }
        self.init(scheme: scheme, host: String(host), port: port, basePath: basePath)
    }

    /// The `Host` header value: the host, with the port when it is not the scheme's default.
    public var hostHeader: String {
        let bracketed = host.contains(":") ? "[\(host)]" : host
        guard let port, port != defaultPort else { return bracketed }
        return "\(bracketed):\(port)"
    }

    /// `scheme://host[:port]` followed by the base path.
    public var baseURL: String { "\(scheme)://\(hostHeader)\(basePath)" }

    public var description: String { baseURL }

    private var defaultPort: Int { scheme == "https" ? 443 : 80 }
}

extension StringProtocol {
    func trimmingASCIIWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }
        guard let start = firstIndex(where: { !isSpace($0) }) else { return "" }
        let end = lastIndex(where: { !isSpace($0) })!
        return String(self[start...end])
    }
}
