/// An HTTP request as the transport sends it and the signer signs it.
public struct HTTPRequest: Sendable {
    /// The request method.
    public struct Method: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }
        public static let get = Method(rawValue: "GET")
        public static let post = Method(rawValue: "POST")
        public static let put = Method(rawValue: "PUT")
        public static let delete = Method(rawValue: "DELETE")
        public static let head = Method(rawValue: "HEAD")
    }

    public var method: Method
    /// Where the request goes.
    public var endpoint: Endpoint
    /// The path as it goes on the wire (already percent-encoded where needed), starting with `/`.
    public var path: String
    /// The query string as it goes on the wire, without the `?`; empty for none.
    public var query: String
    /// Header fields. The transport adds `Content-Length`; the signer adds `Host`, `X-Amz-Date`,
    /// `X-Amz-Security-Token` and `Authorization`.
    public var headers: HTTPHeaders
    /// The request body.
    public var body: [UInt8]

    public init(
        method: Method,
        endpoint: Endpoint,
        path: String = "/",
        query: String = "",
        headers: HTTPHeaders = [:],
        body: [UInt8] = []
    ) {
        self.method = method
        self.endpoint = endpoint
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }

    /// The full URL: scheme, authority, path and query.
    public var url: String {
        endpoint.baseURL + path + (query.isEmpty ? "" : "?" + query)
    }
}

/// An HTTP response with its whole body.
public struct HTTPResponse: Sendable {
    /// The status code (200, 400, ...).
    public var status: Int
    /// Header fields of the final response (not of interim 1xx or proxy responses).
    public var headers: HTTPHeaders
    /// The response body.
    public var body: [UInt8]

    public init(status: Int, headers: HTTPHeaders = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}
