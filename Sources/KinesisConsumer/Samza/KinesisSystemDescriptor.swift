public import AWSCore

/// A Kinesis system as Samza's `KinesisSystemDescriptor` describes it: a region, AWS client
/// settings (`systems.<system>.aws.clientConfig.<Name>`), a proxy, and KCL settings shared by
/// the system's streams (`systems.<system>.aws.kcl.<Name>`).
///
/// ```swift
/// let system = KinesisSystemDescriptor(systemName: "kinesis-system")
///     .withRegion("us-west-2")
///     .withProxyHost("proxy.example.com").withProxyPort(3128)
/// let input = system.inputDescriptor(streamID: "orders")
///     .withKCLConfig(["TableName": "orders-checkpoints", "InitialPositionInStream": "TRIM_HORIZON"])
/// let consumer = try input.makeConsumer(jobName: "billing", jobID: "1")
/// ```
///
/// Settings are checked when a consumer is made; an error names the equivalent properties key.
///
/// - Important: `description` and reflection leave out the `ProxyPassword` setting's value.
public struct KinesisSystemDescriptor: Sendable, Hashable, CustomStringConvertible, CustomReflectable, CopyingSetters {
    /// The Samza factory class name that marks a Kinesis system in a properties file.
    public static let factoryClassName = "org.apache.samza.system.kinesis.KinesisSystemFactory"

    /// The system's name (`kinesis-system` in `systems.kinesis-system.*`).
    public let systemName: String
    /// The region of the system's streams, unless a stream sets its own; `nil` for the AWS chain.
    public var region: String?
    /// The proxy host (`ProxyHost`).
    public var proxyHost: String?
    /// The proxy port (`ProxyPort`).
    public var proxyPort: Int?
    /// AWS client settings by their Java `ClientConfiguration` names (`ConnectionTimeout`,
    /// `MaxErrorRetry`, ...). See ``SamzaKinesisConfiguration`` for the accepted names.
    public var awsConfig: [String: String] = [:]
    /// KCL settings for every stream of the system, by their KCL names (`TableName`,
    /// `failoverTimeMillis`, ...); a stream's own settings win.
    public var kclConfig: [String: String] = [:]

    public init(systemName: String) {
        self.systemName = systemName
    }

    /// An input descriptor for one of the system's streams (Samza's `getInputDescriptor`).
    public func inputDescriptor(streamID: String) -> KinesisInputDescriptor {
        KinesisInputDescriptor(system: self, streamID: streamID)
    }

    public func withRegion(_ region: String) -> Self { with { $0.region = region } }
    public func withProxyHost(_ host: String) -> Self { with { $0.proxyHost = host } }
    public func withProxyPort(_ port: Int) -> Self { with { $0.proxyPort = port } }
    public func withAWSConfig(_ config: [String: String]) -> Self { with { $0.awsConfig = config } }
    public func withKCLConfig(_ config: [String: String]) -> Self { with { $0.kclConfig = config } }

    public var description: String {
        var text = "KinesisSystemDescriptor(\(systemName)"
        if let region { text += ", region: \(region)" }
        if let proxyHost { text += ", proxy: \(proxyHost):\(proxyPort.map(String.init) ?? "-")" }
        if !awsConfig.isEmpty { text += ", clientConfig: \(awsConfig.keys.sorted())" }
        if !kclConfig.isEmpty { text += ", kcl: \(kclConfig.keys.sorted())" }
        return text + ")"
    }

    public var customMirror: Mirror {
        Mirror(self, children: ["systemName": systemName, "region": region as Any, "awsConfig": awsConfig.keys.sorted(), "kclConfig": kclConfig])
    }
}

/// One Kinesis input stream as Samza's `KinesisInputDescriptor` describes it: region, access
/// key, secret key and KCL settings (`systems.<system>.streams.<stream>.aws.*`). It builds the
/// ``KinesisConsumer`` for the stream.
///
/// - Important: The secret key never appears in `description`, reflection or errors.
public struct KinesisInputDescriptor: Sendable, Hashable, CustomStringConvertible, CustomReflectable, CopyingSetters {
    /// The system the stream belongs to.
    public var system: KinesisSystemDescriptor
    /// The stream's name.
    public let streamID: String
    /// The stream's region; `nil` for the system's, or the AWS chain's.
    public var region: String?
    /// The access key ID; with ``secretKey``, static credentials. `nil` for the AWS chain.
    public var accessKey: String?
    /// The secret access key that goes with ``accessKey``.
    public var secretKey: String?
    /// KCL settings for this stream, by their KCL names; they win over the system's.
    public var kclConfig: [String: String] = [:]

    init(system: KinesisSystemDescriptor, streamID: String) {
        self.system = system
        self.streamID = streamID
    }

    public func withRegion(_ region: String) -> Self { with { $0.region = region } }
    public func withAccessKey(_ accessKey: String) -> Self { with { $0.accessKey = accessKey } }
    public func withSecretKey(_ secretKey: String) -> Self { with { $0.secretKey = secretKey } }
    public func withKCLConfig(_ config: [String: String]) -> Self { with { $0.kclConfig = config } }

    public var description: String {
        var text = "KinesisInputDescriptor(\(system.systemName).\(streamID)"
        if let region { text += ", region: \(region)" }
        if accessKey != nil { text += ", accessKey: set" }
        if secretKey != nil { text += ", secretKey: <redacted>" }
        if !kclConfig.isEmpty { text += ", kcl: \(kclConfig.keys.sorted())" }
        return text + ")"
    }

    public var customMirror: Mirror {
        Mirror(self, children: ["system": system, "streamID": streamID, "region": region as Any, "kclConfig": kclConfig])
    }

    /// The application name Samza gives this stream's KCL worker, and so the default lease
    /// table: `<job name>-<job id>-<stream>`.
    public func defaultApplicationName(jobName: String, jobID: String) -> String {
        "\(jobName)-\(jobID)-\(streamID)"
    }

    /// The consumer for this stream, configured as Samza would configure its KCL worker.
    ///
    /// - Parameters:
    ///   - jobName: Samza's `job.name`.
    ///   - jobID: Samza's `job.id` (Samza's default is `1`).
    ///   - environment: Where region, credentials and endpoints fall back to (the AWS chain,
    ///     `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_KINESIS`, `AWS_ENDPOINT_URL_DYNAMODB`).
    /// - Throws: ``KinesisConsumerError`` (``KinesisConsumerError/Code/invalidConfiguration``)
    ///   naming the properties key, its value (never a secret's) and what is accepted.
    public func makeConsumer(jobName: String, jobID: String = "1", environment: AWSEnvironment = .process) throws -> KinesisConsumer {
        let resolved = try resolve(jobName: jobName, jobID: jobID, environment: environment)
        return KinesisConsumer(stream: streamID, application: resolved.application, configuration: resolved.configuration)
    }

    /// The application name and configuration ``makeConsumer(jobName:jobID:environment:)`` uses.
    public func consumerConfiguration(
        jobName: String, jobID: String = "1", environment: AWSEnvironment = .process
    ) throws -> (application: String, configuration: KinesisConsumer.Configuration) {
        try resolve(jobName: jobName, jobID: jobID, environment: environment)
    }

    func resolve(
        jobName: String, jobID: String, environment: AWSEnvironment, locate: (String) -> String? = { _ in nil }
    ) throws -> (application: String, configuration: KinesisConsumer.Configuration) {
        do {
            var settings = SamzaSettings(input: self, jobName: jobName, jobID: jobID)
            return try settings.resolve(environment: environment)
        } catch let error as SamzaSettingError {
            let location = locate(error.key).map { "\($0): " } ?? ""
            throw KinesisConsumerError(code: .invalidConfiguration, message: "\(location)\(error.key): \(error.problem)")
        }
    }
}

/// The descriptors' `with…` setters: each returns a changed copy, as Samza's builders read.
protocol CopyingSetters {}

extension CopyingSetters {
    func with(_ change: (inout Self) -> Void) -> Self {
        var copy = self
        change(&copy)
        return copy
    }
}
