#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Turns an AWS JSON 1.0/1.1 error response into an ``AWSError``.
///
/// The code comes from the `x-amzn-ErrorType` header or the body's `__type` (or `code`), with any
/// namespace (`com.amazonaws.kinesis.v20131202#`) or URL suffix (`:http://...`) removed; the message
/// from `message`, `Message` or `errorMessage`; the request ID from `x-amzn-RequestId` (or
/// `x-amz-request-id`). A body that is not JSON (an HTML error page, a proxy's answer) still gives an
/// error that names the HTTP status and starts the body, never a crash.
public enum AWSErrorDecoder {
    private struct Body: Decodable {
        var type: String?
        var code: String?
        var message: String?
        var capitalMessage: String?
        var errorMessage: String?

        enum CodingKeys: String, CodingKey {
            case type = "__type", code, message, capitalMessage = "Message", errorMessage
        }
    }

    /// The error a non-2xx response stands for.
    public static func decode(status: Int, headers: HTTPHeaders, body: [UInt8]) -> AWSError {
        let parsed = try? JSONDecoder().decode(Body.self, from: Data(body))
        let requestID = headers["x-amzn-RequestId"] ?? headers["x-amz-request-id"]
        let rawCode = headers["x-amzn-ErrorType"] ?? parsed?.type ?? parsed?.code
        let message = (parsed?.message ?? parsed?.capitalMessage ?? parsed?.errorMessage).map(trimmingEchoedRequest)
        if let rawCode, let code = sanitize(rawCode) {
            return AWSError(code: AWSError.Code(code), message: message ?? "", statusCode: status, requestID: requestID)
        }
        if status == 407 {
            return AWSError(code: .proxyFailed, message: "the proxy requires authentication (407 Proxy Authentication Required)", statusCode: status, requestID: requestID)
        }
        return AWSError(
            code: .httpStatus,
            message: message ?? "HTTP \(status) without an AWS error code" + bodyExcerpt(body),
            statusCode: status,
            requestID: requestID
        )
    }

    /// AWS's answer to a bad signature quotes the canonical request and string to sign it expected,
    /// which hold the session token: keep only the first sentence.
    static func trimmingEchoedRequest(_ message: String) -> String {
        for marker in ["\n\nThe Canonical String", "The Canonical String for this request", "\n\nThe String-to-Sign"] {
            if let range = message.firstRange(of: marker) {
                return message[..<range.lowerBound].trimmingASCIIWhitespace() + " (the service's echo of the request is left out)"
            }
        }
        return message
    }

    /// `ns#Code:url` -> `Code`; `nil` when nothing is left.
    static func sanitize(_ raw: String) -> String? {
        var code = Substring(raw)
        if let colon = code.firstIndex(of: ":") { code = code[..<colon] }
        if let hash = code.lastIndex(of: "#") { code = code[code.index(after: hash)...] }
        let trimmed = code.trimmingASCIIWhitespace()
        return trimmed.isEmpty ? nil : trimmed
    }

    /// `; body starts: ...` with the first 200 printable characters, or nothing for an empty body.
    static func bodyExcerpt(_ body: [UInt8]) -> String {
        guard !body.isEmpty else { return " (empty body)" }
        let text = String(decoding: body.prefix(200), as: UTF8.self)
            .map { $0.isASCII && ($0.isLetter || $0.isNumber || $0.isPunctuation || $0.isSymbol || $0 == " ") ? $0 : " " }
        return "; body starts: \(String(text).trimmingASCIIWhitespace())"
    }
}
