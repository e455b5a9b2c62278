#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
import Synchronization

/// AWS Signature Version 4 (`AWS4-HMAC-SHA256`) for requests sent in headers.
///
/// Signing is a pure function of the request, the credentials and the date, which is a parameter
/// so that tests can fix it. Signing keys are derived once per (secret key, day, region, service)
/// and cached.
public struct SigV4Signer: Sendable {
    /// How a request is canonicalised. The defaults are those of every AWS service but S3.
    public struct Options: Sendable, Hashable {
        /// URI-encode the (already URI-encoded) path once more, as all services but S3 expect.
        public var doubleURIEncode: Bool = true
        /// Remove `.` and `..` segments and repeated slashes from the path, as all services but S3 expect.
        public var normalizePath: Bool = true
        /// Sign `X-Amz-Security-Token` (true) or add it after signing (false).
        public var signSessionToken: Bool = true
        public init() {}
    }

    /// What signing produced: each intermediate step, for tests and diagnostics.
    public struct Signature: Sendable {
        public var canonicalRequest: String
        public var stringToSign: String
        public var signedHeaders: String
        public var signature: String
        /// The `Authorization` header value.
        public var authorization: String
    }

    /// The service's signing name (`kinesis`, `dynamodb`, `sts`).
    public var service: String
    /// The signing region (`us-east-1`).
    public var region: String
    public var options: Options
    private let keyCache: SigningKeyCache

    /// Header names never signed: they may be changed by proxies or the transport.
    static let unsignedHeaders: Set<String> = ["authorization", "user-agent", "expect", "x-amzn-trace-id", "connection"]

    public init(service: String, region: String, options: Options = Options()) {
        self.service = service
        self.region = region
        self.options = options
        self.keyCache = SigningKeyCache()
    }

    /// Signs `request` in place: adds `Host` (unless present), and sets `X-Amz-Date`,
    /// `X-Amz-Security-Token` (for temporary credentials) and `Authorization`, replacing those of an
    /// earlier signature.
    @discardableResult
    public func sign(_ request: inout HTTPRequest, credentials: AWSCredentials, date: Date) -> Signature {
        if !request.headers.contains("host") {
            request.headers.add(name: "Host", value: request.endpoint.hostHeader)
        }
        // Re-signing (a retry) replaces the date, the token and the signature of the last attempt.
        request.headers.replaceOrAdd(name: "X-Amz-Date", value: AMZDate(date).timestamp)
        request.headers.remove(name: "authorization")
        request.headers.remove(name: "x-amz-security-token")
        if let token = credentials.sessionToken, options.signSessionToken {
            request.headers.add(name: "X-Amz-Security-Token", value: token)
        }
        let result = signature(for: request, credentials: credentials, date: date)
        if let token = credentials.sessionToken, !options.signSessionToken {
            request.headers.replaceOrAdd(name: "X-Amz-Security-Token", value: token)
        }
        request.headers.add(name: "Authorization", value: result.authorization)
        return result
    }

    /// Computes the signature of `request` as it stands (with its `Host` and `X-Amz-Date` headers),
    /// without changing it.
    public func signature(for request: HTTPRequest, credentials: AWSCredentials, date: Date) -> Signature {
        let amzDate = AMZDate(date)
        let (canonicalHeaders, signedHeaders) = Self.canonicalHeaders(request.headers)
        let payloadHash = Hashing.hex(Hashing.sha256(request.body))
        let canonicalRequest = [
            request.method.rawValue,
            canonicalURI(request.endpoint.basePath + request.path),
            Self.canonicalQuery(request.query),
            canonicalHeaders,
            signedHeaders,
            payloadHash,
        ].joined(separator: "\n")
        let scope = "\(amzDate.day)/\(region)/\(service)/aws4_request"
        let stringToSign = [
            "AWS4-HMAC-SHA256",
            amzDate.timestamp,
            scope,
            Hashing.hex(Hashing.sha256(canonicalRequest.utf8)),
        ].joined(separator: "\n")
        let key = keyCache.signingKey(secret: credentials.secretAccessKey, day: amzDate.day, region: region, service: service)
        let signature = Hashing.hex(Hashing.hmacSHA256(key: key, data: stringToSign.utf8))
        let authorization = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return Signature(
            canonicalRequest: canonicalRequest,
            stringToSign: stringToSign,
            signedHeaders: signedHeaders,
            signature: signature,
            authorization: authorization
        )
    }

    // MARK: Canonicalisation (pure)

    /// The canonical URI: normalised (unless disabled) and URI-encoded once more (unless disabled).
    func canonicalURI(_ path: String) -> String {
        var path = path.isEmpty ? "/" : path
        if options.normalizePath {
            path = Self.normalize(path)
        }
        return options.doubleURIEncode ? Self.uriEncode(path, encodeSlash: false) : path
    }

    /// Removes `.` and `..` segments and empty segments, keeping a leading and a trailing slash.
    static func normalize(_ path: String) -> String {
        var segments: [Substring] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch segment {
            case ".": continue
            case "..": if !segments.isEmpty { segments.removeLast() }
            default: segments.append(segment)
            }
        }
        var result = "/" + segments.joined(separator: "/")
        if path.hasSuffix("/") && result != "/" { result += "/" }
        return result
    }

    /// The canonical query string: each name and value URI-encoded, sorted by name then value.
    static func canonicalQuery(_ query: String) -> String {
        guard !query.isEmpty else { return "" }
        var pairs: [(String, String)] = []
        for part in query.split(separator: "&", omittingEmptySubsequences: true) {
            let name: Substring, value: Substring
            if let equals = part.firstIndex(of: "=") {
                name = part[..<equals]
                value = part[part.index(after: equals)...]
            } else {
                name = part
                value = ""
            }
            pairs.append((uriEncode(percentDecode(name), encodeSlash: true), uriEncode(percentDecode(value), encodeSlash: true)))
        }
        pairs.sort { lhs, rhs in
            let byName = lhs.0.compareBytes(rhs.0)
            return byName != 0 ? byName < 0 : lhs.1.compareBytes(rhs.1) < 0
        }
        return pairs.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// Canonical header lines (lower-case names, sorted; values trimmed with inner runs of spaces
    /// collapsed; repeated names joined with commas) and the signed-header list.
    static func canonicalHeaders(_ headers: HTTPHeaders) -> (canonical: String, signed: String) {
        var byName: [String: [String]] = [:]
        for field in headers {
            let name = field.name.asciiLowercased
            guard !unsignedHeaders.contains(name) else { continue }
            byName[name, default: []].append(trimAndCollapse(field.value))
        }
        let names = byName.keys.sorted { $0.compareBytes($1) < 0 }
        var canonical = ""
        for name in names {
            canonical += name + ":" + byName[name]!.joined(separator: ",") + "\n"
        }
        return (canonical, names.joined(separator: ";"))
    }

    static func trimAndCollapse(_ value: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(value.utf8.count)
        var pendingSpace = false
        for byte in value.utf8 {
            if byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(0x20) }
                pendingSpace = false
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let hexUpper: [UInt8] = Array("0123456789ABCDEF".utf8)

    /// RFC 3986 encoding as SigV4 defines it: unreserved characters (`A-Z a-z 0-9 - _ . ~`) stay,
    /// every other byte becomes `%XY` (upper-case hex); `/` stays unless `encodeSlash`.
    static func uriEncode(_ text: some StringProtocol, encodeSlash: Bool) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"),
                UInt8(ascii: "."), UInt8(ascii: "~"):
                out.append(byte)
            case UInt8(ascii: "/") where !encodeSlash:
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hexUpper[Int(byte >> 4)])
                out.append(hexUpper[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes `%XY` escapes; malformed escapes are kept as they are.
    static func percentDecode(_ text: some StringProtocol) -> String {
        let bytes = Array(text.utf8)
        guard bytes.contains(UInt8(ascii: "%")) else { return String(text) }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
                let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) {
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension String {
    /// Byte-wise (code-unit) comparison, as SigV4 sorts.
    func compareBytes(_ other: String) -> Int {
        for (lhs, rhs) in zip(utf8, other.utf8) where lhs != rhs {
            return lhs < rhs ? -1 : 1
        }
        return utf8.count - other.utf8.count
    }
}

/// The two date forms SigV4 uses, computed without a formatter: `20150830T123600Z` and `20150830`.
struct AMZDate {
    let timestamp: String
    var day: String { String(timestamp.prefix(8)) }

    init(_ date: Date) {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        // Howard Hinnant's civil-from-days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        timestamp = pad(year, 4) + pad(month, 2) + pad(day, 2) + "T"
            + pad(secondOfDay / 3600, 2) + pad(secondOfDay % 3600 / 60, 2) + pad(secondOfDay % 60, 2) + "Z"
    }
}

/// Derived signing keys per (secret, day, region, service). A handful of entries at most.
final class SigningKeyCache: Sendable {
    private struct Key: Hashable {
        var secret: String
        var day: String
        var region: String
        var service: String
    }

    private let entries = Mutex<[Key: [UInt8]]>([:])

    func signingKey(secret: String, day: String, region: String, service: String) -> [UInt8] {
        let key = Key(secret: secret, day: day, region: region, service: service)
        if let cached = entries.withLock({ $0[key] }) {
            return cached
        }
        let dateKey = Hashing.hmacSHA256(key: ("AWS4" + secret).utf8, data: day.utf8)
        let regionKey = Hashing.hmacSHA256(key: dateKey, data: region.utf8)
        let serviceKey = Hashing.hmacSHA256(key: regionKey, data: service.utf8)
        let signingKey = Hashing.hmacSHA256(key: serviceKey, data: "aws4_request".utf8)
        entries.withLock {
            if $0.count >= 16 { $0.removeAll(keepingCapacity: true) }
            $0[key] = signingKey
        }
        return signingKey
    }
}
