import AWSCore
import Foundation
import IntegrationSupport
import Testing

/// boto3, run as a separate Python process: an independent second client of the moto server.
enum Boto3 {
    /// Runs `script` with `endpoint`, `region` and boto3 clients `kinesis` and `dynamodb` predefined;
    /// returns what it printed. Fails the test with the script's stderr when it exits non-zero.
    static func run(_ script: String, endpoint: String, input: String = "") async throws -> String {
        let prelude = """
            import boto3, json, sys
            endpoint = \(String(reflecting: endpoint))
            region = "us-east-1"
            session = boto3.session.Session(aws_access_key_id="boto3-key", aws_secret_access_key="boto3-secret", region_name=region)
            kinesis = session.client("kinesis", endpoint_url=endpoint)
            dynamodb = session.client("dynamodb", endpoint_url=endpoint)

            """
        let output = try await ChildProcess.run("/usr/bin/env", ["python3", "-c", prelude + script], input: Data(input.utf8), unset: ["AWS_PROFILE"])
        try #require(output.status == 0, "boto3 script failed: \(output.errorText)")
        return String(decoding: output.stdout, as: UTF8.self)
    }

    /// botocore's SigV4 signature (hex) of `request` as sent: same URL, headers, body and X-Amz-Date.
    static func signature(of request: HTTPRequest, service: String, accessKeyID: String, secret: String, token: String?) async throws -> String {
        let headers = request.headers.filter { $0.name.lowercased() != "authorization" && $0.name.lowercased() != "x-amz-security-token" }
            .map { [$0.name, $0.value] }
        let payload: [String: Any] = [
            "url": request.url, "method": request.method.rawValue, "headers": headers,
            "body": Data(request.body).base64EncodedString(),
            "ak": accessKeyID, "sk": secret, "token": token as Any, "service": service,
        ]
        let input = String(decoding: try JSONSerialization.data(withJSONObject: payload), as: UTF8.self)
        let script = """
            from botocore.auth import SigV4Auth
            from botocore.awsrequest import AWSRequest
            from botocore.credentials import Credentials
            import base64
            d = json.loads(sys.stdin.read())
            request = AWSRequest(method=d["method"], url=d["url"], data=base64.b64decode(d["body"]), headers={k: v for k, v in d["headers"]})
            auth = SigV4Auth(Credentials(d["ak"], d["sk"], d["token"]), d["service"], region)
            request.context["timestamp"] = request.headers["X-Amz-Date"]
            auth._modify_request_before_signing(request)  # sets the date and the token header, as add_auth does
            print(auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request))
            """
        return try await run(script, endpoint: "http://127.0.0.1:1", input: input).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
