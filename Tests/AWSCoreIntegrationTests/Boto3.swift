import Foundation
import Testing

/// boto3, run as a separate Python process: an independent second client of the moto server.
enum Boto3 {
    /// Runs `script` with `endpoint`, `region` and boto3 clients `kinesis` and `dynamodb` predefined;
    /// returns what it printed. Fails the test with the script's stderr when it exits non-zero.
    static func run(_ script: String, endpoint: String) throws -> String {
        let prelude = """
            import boto3, json, sys
            endpoint = \(String(reflecting: endpoint))
            region = "us-east-1"
            session = boto3.session.Session(aws_access_key_id="boto3-key", aws_secret_access_key="boto3-secret", region_name=region)
            kinesis = session.client("kinesis", endpoint_url=endpoint)
            dynamodb = session.client("dynamodb", endpoint_url=endpoint)

            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", prelude + script]
        var environment = ProcessInfo.processInfo.environment
        for name in ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "AWS_PROFILE"] { environment[name] = nil }
        process.environment = environment
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "boto3 script failed: \(String(decoding: err, as: UTF8.self))")
        return String(decoding: out, as: UTF8.self)
    }
}
