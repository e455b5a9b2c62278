/// Settings shared by the AWS clients: where to connect, as whom, and how to retry.
///
/// Everything left `nil` is resolved the way the AWS SDKs do it: the region from `AWS_REGION`,
/// `AWS_DEFAULT_REGION` or the profile; the endpoint from `AWS_ENDPOINT_URL_<SERVICE>`,
/// `AWS_ENDPOINT_URL`, the profile's `endpoint_url`, or the region; credentials from the default
/// chain.
public struct AWSConfiguration: Sendable {
    /// The region; `nil` to resolve it from the environment or the profile.
    public var region: Region?
    /// An endpoint URL for every service (`http://127.0.0.1:4566`); `nil` to resolve it.
    public var endpoint: String?
    /// The shared-files profile; `nil` for `AWS_PROFILE` or `default`.
    public var profile: String?
    /// Where credentials come from; `nil` for the default chain. Either way they are cached and
    /// refreshed ahead of expiry.
    public var credentialProvider: (any CredentialProvider)?
    /// Retries.
    public var retry: RetryPolicy = .standard
    /// HTTP settings for the transport a client creates when it is given none.
    public var http: CurlTransport.Configuration = .init()
    /// The environment variables to resolve from.
    public var environment: AWSEnvironment = .process

    public init(
        region: Region? = nil,
        endpoint: String? = nil,
        profile: String? = nil,
        credentialProvider: (any CredentialProvider)? = nil
    ) {
        self.region = region
        self.endpoint = endpoint
        self.profile = profile
        self.credentialProvider = credentialProvider
    }
}
