/// What the client needs to know of an AWS service: its names for signing, endpoints and the
/// `AWS_ENDPOINT_URL_<SERVICE>` variable, and its JSON protocol.
public struct AWSService: Sendable, Hashable {
    /// The service's SigV4 signing name (`kinesis`).
    public var signingName: String
    /// The first label of its default host name (`kinesis` in `kinesis.us-east-1.amazonaws.com`).
    public var endpointPrefix: String
    /// The service ID upper-cased with spaces as underscores, as in `AWS_ENDPOINT_URL_KINESIS`.
    public var environmentName: String
    /// The `X-Amz-Target` prefix of its JSON operations (`Kinesis_20131202`); `nil` if it has none.
    public var targetPrefix: String?
    /// The AWS JSON protocol version, `1.0` or `1.1`.
    public var jsonVersion: String

    public init(signingName: String, endpointPrefix: String, environmentName: String, targetPrefix: String?, jsonVersion: String) {
        self.signingName = signingName
        self.endpointPrefix = endpointPrefix
        self.environmentName = environmentName
        self.targetPrefix = targetPrefix
        self.jsonVersion = jsonVersion
    }

    /// Amazon Kinesis Data Streams (AWS JSON 1.1).
    public static let kinesis = AWSService(
        signingName: "kinesis", endpointPrefix: "kinesis", environmentName: "KINESIS",
        targetPrefix: "Kinesis_20131202", jsonVersion: "1.1"
    )
    /// Amazon DynamoDB (AWS JSON 1.0).
    public static let dynamoDB = AWSService(
        signingName: "dynamodb", endpointPrefix: "dynamodb", environmentName: "DYNAMODB",
        targetPrefix: "DynamoDB_20120810", jsonVersion: "1.0"
    )
    /// AWS Security Token Service (regional endpoints).
    public static let sts = AWSService(
        signingName: "sts", endpointPrefix: "sts", environmentName: "STS",
        targetPrefix: nil, jsonVersion: "1.0"
    )

    /// The service's endpoint, from, in order: `explicit`; `AWS_ENDPOINT_URL_<SERVICE>`;
    /// `AWS_ENDPOINT_URL`; the profile's `endpoint_url`; the region's default
    /// (`https://<prefix>.<region>.<partition suffix>`). `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`
    /// (or the profile's `ignore_configured_endpoint_urls`) skips the variables and the profile.
    public func endpoint(
        explicit: String?,
        region: Region,
        environment: AWSEnvironment,
        profile: SharedConfigFiles.Profile?
    ) throws(AWSError) -> Endpoint {
        if let explicit {
            return try Endpoint(url: explicit)
        }
        let ignoreConfigured = environment.isTrue("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
            || profile?["ignore_configured_endpoint_urls"]?.lowercased() == "true"
        if !ignoreConfigured {
            for name in ["AWS_ENDPOINT_URL_\(environmentName)", "AWS_ENDPOINT_URL"] {
                if let value = environment[name] {
                    do {
                        return try Endpoint(url: value)
                    } catch {
                        throw .configuration("\(name): \(error.message)")
                    }
                }
            }
            if let value = profile?["endpoint_url"] {
                return try Endpoint(url: value)
            }
        }
        return Endpoint(scheme: "https", host: "\(endpointPrefix).\(region.rawValue).\(region.dnsSuffix)")
    }
}
