import Foundation
import Testing

@testable import AWSCore

/// AWS's published Signature Version 4 test suite (`../shared/testdata/aws-sig-v4-test-suite`):
/// for every case, the canonical request, the string to sign and the `Authorization` header are
/// each compared with AWS's files.
@Suite struct SigV4SuiteTests {
    static let credentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    static let token = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
    /// 2015-08-30T12:36:00Z, the date of every case.
    static let date = Date(timeIntervalSince1970: 1_440_938_160)

    static let suiteDirectory: URL = {
        if let override = ProcessInfo.processInfo.environment["SIGV4_TEST_SUITE_DIR"] {
            return URL(fileURLWithPath: override)
        }
        return URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("shared/testdata/aws-sig-v4-test-suite/aws-sig-v4-test-suite")
    }()

    /// Every case directory (one that holds a `.req` file), relative to the suite directory.
    static let cases: [String] = {
        guard let walker = FileManager.default.enumerator(atPath: suiteDirectory.path) else { return [] }
        return walker.compactMap { $0 as? String }
            .filter { $0.hasSuffix(".req") }
            .map { ($0 as NSString).deletingLastPathComponent }
            .sorted()
    }()

    /// Two cases whose own files contradict each other, so no signer can match all their files;
    /// `signsLikeAWS` compares what is consistent in them and says why:
    /// - `post-x-www-form-urlencoded`: the canonical request lists `content-length`, but the string
    ///   to sign and the signature were computed from a canonical request without it.
    /// - `post-x-www-form-urlencoded-parameters`: the string to sign's last line is not the SHA-256
    ///   of the case's own canonical request (which we reproduce byte for byte).
    static let selfContradictory: Set<String> = ["post-x-www-form-urlencoded", "post-x-www-form-urlencoded-parameters"]

    @Test func suiteIsPresent() throws {
        // If this fails, the other tests had nothing to check.
        #expect(Self.cases.count >= 30, "found \(Self.cases.count) cases under \(Self.suiteDirectory.path)")
        let names = Set(Self.cases.map { ($0 as NSString).lastPathComponent })
        #expect(Self.selfContradictory.isSubset(of: names), "the documented exceptions are cases of the suite")
    }

    @Test(arguments: cases)
    func signsLikeAWS(_ path: String) throws {
        let name = (path as NSString).lastPathComponent
        let directory = Self.suiteDirectory.appendingPathComponent(path)
        func file(_ ext: String) throws -> String {
            try String(contentsOf: directory.appendingPathComponent("\(name).\(ext)"), encoding: .utf8)
        }
        var request = try Self.parse(try file("req"))
        var options = SigV4Signer.Options()
        var credentials = Self.credentials
        if name.hasPrefix("post-sts-header") {
            credentials.sessionToken = Self.token
            options.signSessionToken = name == "post-sts-header-before"
        }
        let signer = SigV4Signer(service: "service", region: "us-east-1", options: options)
        let result = signer.sign(&request, credentials: credentials, date: Self.date)

        #expect(result.canonicalRequest == (try file("creq")), "canonical request")
        switch name {
        case "post-x-www-form-urlencoded":
            // The string to sign and the authorization were computed without Content-Length.
            var unsigned = try Self.parse(try file("req"))
            unsigned.headers.remove(name: "content-length")
            let other = signer.sign(&unsigned, credentials: credentials, date: Self.date)
            #expect(other.stringToSign == (try file("sts")), "string to sign, without content-length")
            #expect(other.authorization == (try file("authz")), "authorization, without content-length")
        case "post-x-www-form-urlencoded-parameters":
            // The string to sign's digest is not the SHA-256 of the suite's own canonical request,
            // so its signature cannot be reproduced. Everything else is compared.
            let expected = try file("sts").components(separatedBy: "\n")
            let ours = result.stringToSign.components(separatedBy: "\n")
            #expect(ours.prefix(3) == expected.prefix(3), "string to sign, first three lines")
            #expect(ours.last == Hashing.hex(Hashing.sha256(try file("creq").utf8)), "digest of the suite's canonical request")
            let authz = try file("authz")
            #expect(result.authorization.components(separatedBy: ", Signature=").first == authz.components(separatedBy: ", Signature=").first)
        default:
            #expect(result.stringToSign == (try file("sts")), "string to sign")
            #expect(result.authorization == (try file("authz")), "authorization")
        }
        // The signed request carries the token exactly once, whether it was signed or added after.
        if credentials.sessionToken != nil {
            #expect(request.headers.values(for: "x-amz-security-token") == [Self.token])
        }
    }

    /// Parses a `.req` file. The suite writes the raw path on the request line (it may contain a
    /// space) and folds multi-line header values onto indented lines, which are repeated values.
    static func parse(_ text: String) throws -> HTTPRequest {
        let lines = text.components(separatedBy: "\n")
        let requestLine = try #require(lines.first)
        let space = try #require(requestLine.firstIndex(of: " "))
        let method = String(requestLine[..<space])
        var target = String(requestLine[requestLine.index(after: space)...])
        #expect(target.hasSuffix(" HTTP/1.1"))
        target.removeLast(" HTTP/1.1".count)
        let (path, query): (String, String) = {
            guard let mark = target.firstIndex(of: "?") else { return (target, "") }
            return (String(target[..<mark]), String(target[target.index(after: mark)...]))
        }()
        var headers = HTTPHeaders()
        var lastName: String?
        var bodyStart: Int?
        for (index, line) in lines.enumerated().dropFirst() {
            if line.isEmpty { bodyStart = index + 1; break }
            if line.first == " " || line.first == "\t", let name = lastName {
                headers.add(name: name, value: line.trimmingCharacters(in: .whitespaces))
                continue
            }
            let colon = try #require(line.firstIndex(of: ":"))
            let name = String(line[..<colon])
            headers.add(name: name, value: String(line[line.index(after: colon)...]))
            lastName = name
        }
        let body = bodyStart.map { lines[$0...].joined(separator: "\n") } ?? ""
        let host = try #require(headers["host"])
        return HTTPRequest(
            method: .init(rawValue: method),
            endpoint: Endpoint(scheme: "https", host: host),
            path: path,
            query: query,
            headers: headers,
            body: Array(body.utf8)
        )
    }
}
