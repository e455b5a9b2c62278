import Foundation
import IntegrationSupport
import Testing

/// boto3, run as a separate Python process against the moto server: an independent second client.
enum Boto3 {
    /// Runs `script` with `dynamodb` (a boto3 client of the moto server), `table`, and
    /// `raw(key)` (a consistent GetItem of a lease item) defined; returns what it printed, trimmed.
    static func run(_ script: String, table: String) async throws -> String {
        let output = try await ChildProcess.run("/usr/bin/env", ["python3", "-c", """
            import boto3, json, sys, base64
            dynamodb = boto3.client("dynamodb", endpoint_url=\(String(reflecting: try Moto.endpoint())), region_name="us-east-1",
                                    aws_access_key_id="boto3", aws_secret_access_key="boto3")
            table = \(String(reflecting: table))
            def raw(key):
                return dynamodb.get_item(TableName=table, Key={"leaseKey": {"S": key}}, ConsistentRead=True).get("Item")
            """ + "\n" + script])
        try #require(output.status == 0, "boto3 failed: \(output.errorText)")
        return String(decoding: output.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
