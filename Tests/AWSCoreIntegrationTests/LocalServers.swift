import AWSCore
import Foundation
import Testing

/// The local servers that `scripts/test` starts on 127.0.0.1 and stops afterwards: the moto server
/// and the HTTP fixture (`scripts/testing/http_fixture.py`, an origin server and a forward proxy).
enum LocalServers {
    static func variable(_ name: String) throws -> String {
        try #require(
            ProcessInfo.processInfo.environment[name],
            "\(name) is not set: run the tests with scripts/test, which starts the local servers"
        )
    }

    /// The HTTP fixture's origin server.
    static func origin() throws -> Endpoint {
        try Endpoint(url: try variable("KINESIS_TEST_HTTP_ORIGIN"))
    }

    /// The HTTP fixture's forward proxy, with its credentials.
    static func proxy() throws -> CurlTransport.Proxy {
        let address = try variable("KINESIS_TEST_HTTP_PROXY")
        let parts = address.split(separator: ":")
        return CurlTransport.Proxy(
            host: String(parts[0]),
            port: try #require(Int(parts[1])),
            username: try variable("KINESIS_TEST_HTTP_PROXY_USER"),
            password: try variable("KINESIS_TEST_HTTP_PROXY_PASSWORD")
        )
    }

    /// The moto server.
    static func moto() throws -> Endpoint {
        try Endpoint(url: try variable("KINESIS_TEST_MOTO_ENDPOINT"))
    }
}

extension HTTPResponse {
    /// The body parsed as a JSON object.
    func json() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any], "not a JSON object: \(String(decoding: body, as: UTF8.self))")
    }
}
