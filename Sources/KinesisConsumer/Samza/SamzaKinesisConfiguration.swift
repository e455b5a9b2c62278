public import AWSCore

/// A Samza job's Kinesis configuration, loaded from its properties file, that builds one
/// ``KinesisConsumer`` per input stream, configured as Samza's Kinesis connector configures its
/// KCL workers.
///
/// ```swift
/// let job = try await SamzaKinesisConfiguration.load(contentsOf: "config/kinesis.properties")
/// let consumer = try job.makeConsumer(stream: "input0")
/// ```
///
/// Exactly these keys are accepted (`<system>` is a system whose factory is Samza's
/// `KinesisSystemFactory`, `<stream>` one of its streams in `task.inputs`):
///
/// | key | meaning |
/// |---|---|
/// | `systems.<system>.samza.factory` | `org.apache.samza.system.kinesis.KinesisSystemFactory` |
/// | `job.systemstreampartition.grouper.factory` | accepted, any grouper: leases share the shards here, so Samza's one-grouper limitation does not apply |
/// | `task.inputs` | `<system>.<stream>[,...]`, required |
/// | `job.name` (required), `job.id` (default `1`) | name the application and the default lease table, `<job.name>-<job.id>-<stream>` |
/// | `systems.<system>.streams.<stream>.aws.region`, `systems.<system>.aws.region` | the region; the AWS chain when absent |
/// | `systems.<system>.streams.<stream>.aws.accessKey`, `sensitive.systems.<system>.streams.<stream>.aws.secretKey` | static credentials; the AWS chain when absent |
/// | `systems.<system>.aws.clientConfig.<Name>` | `ProxyHost`, `ProxyPort`, `ProxyUsername`, `ProxyPassword`, `ConnectionTimeout`, `SocketTimeout`, `RequestTimeout`, `ClientExecutionTimeout` (milliseconds), `MaxConnections`, `MaxErrorRetry`, `UserAgent` (a prefix), `UseGzip` |
/// | `systems.<system>.streams.<stream>.aws.kcl.<Name>`, `systems.<system>.aws.kcl.<Name>` | `TableName`, `InitialPositionInStream` (`TRIM_HORIZON`, `LATEST`, `AT_TIMESTAMP` with `TimestampAtInitialPositionInStream`), `failoverTimeMillis`, `maxRecords`, `idleTimeBetweenReadsInMillis`, `maxLeasesForWorker`, `maxLeasesToStealAtOneTime`, `shardSyncIntervalMillis`, `WorkerId` / `workerIdentifier`, `ApplicationName`, `callProcessRecordsEvenForEmptyRecordList` (accepted; no empty batches are delivered) |
///
/// Setting names after `clientConfig.` and `kcl.` match ignoring case (Samza matched them to
/// Java setters exactly, so `TableName` and `MaxRecords` worked and `maxRecords` was silently
/// ignored; here both work). Empty values are skipped, as in Samza. Endpoints come from
/// `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_KINESIS` / `AWS_ENDPOINT_URL_DYNAMODB`.
///
/// Samza's other limitation, no input beside Kinesis, does not apply either: each consumer's
/// ``KinesisConsumer/envelopes`` is an `AsyncSequence` that composes with any other.
public struct SamzaKinesisConfiguration: Sendable {
    /// `job.name`.
    public var jobName: String
    /// `job.id` (Samza's default, `1`, when absent).
    public var jobID: String
    /// The Kinesis input streams, in `task.inputs` order.
    public var inputs: [KinesisInputDescriptor]
    /// Where each key was read (`file:line`), for errors.
    private var locations: [String: String]
    private var environment: AWSEnvironment

    /// Loads and checks a Samza properties file.
    ///
    /// - Parameter environment: Where region, credentials and endpoints fall back to.
    /// - Throws: ``KinesisConsumerError`` (``KinesisConsumerError/Code/invalidConfiguration``)
    ///   naming the file, line, key, value (never a secret's) and what is accepted.
    public static func load(contentsOf path: String, environment: AWSEnvironment = .process) async throws -> SamzaKinesisConfiguration {
        try SamzaKinesisConfiguration(properties: try await JavaProperties.load(contentsOf: path), source: path, environment: environment)
    }

    /// Checks parsed properties (``JavaProperties``) as ``load(contentsOf:environment:)`` does.
    public init(properties: JavaProperties, source: String = "properties", environment: AWSEnvironment = .process) throws {
        self.environment = environment
        var locations: [String: String] = [:]
        for entry in properties.entries { locations[entry.key] = "\(source):\(entry.line)" }
        self.locations = locations
        func fail(_ key: String, _ problem: String) -> KinesisConsumerError {
            let location = locations[key].map { "\($0): " } ?? "\(source): "
            return KinesisConsumerError(code: .invalidConfiguration, message: "\(location)\(key): \(problem)")
        }

        // The Kinesis systems, from their factory keys.
        var systems: [String: KinesisSystemDescriptor] = [:]
        for entry in properties.entries where entry.key.hasPrefix("systems.") && entry.key.hasSuffix(".samza.factory") {
            let name = String(entry.key.dropFirst("systems.".count).dropLast(".samza.factory".count))
            guard !name.isEmpty else { throw fail(entry.key, "names no system; accepted: systems.<system>.samza.factory") }
            guard entry.value.trimmingBlanks == KinesisSystemDescriptor.factoryClassName else {
                throw fail(entry.key, "\(SettingReader(key: entry.key, value: entry.value, secret: false).shownValue) is not accepted; accepted: \(KinesisSystemDescriptor.factoryClassName) (only Kinesis systems are read here)")
            }
            systems[name] = KinesisSystemDescriptor(systemName: name)
        }

        guard let jobName = properties["job.name"]?.trimmingBlanks.nonEmpty else {
            throw fail("job.name", "missing; accepted: the job's name, which names the application and the lease table <job.name>-<job.id>-<stream>")
        }
        self.jobName = jobName
        self.jobID = properties["job.id"]?.trimmingBlanks.nonEmpty ?? "1"

        // The inputs: `<system>.<stream>`, the system being a declared Kinesis system.
        guard let inputList = properties["task.inputs"], !inputList.trimmingBlanks.isEmpty else {
            throw fail("task.inputs", "missing; accepted: <system>.<stream>[,<system>.<stream>...] with Kinesis systems")
        }
        var inputs: [KinesisInputDescriptor] = []
        for item in inputList.split(separator: ",").map({ String($0).trimmingBlanks }) where !item.isEmpty {
            guard let system = Self.longestPrefix(of: item, among: systems.keys, separator: "."),
                  item.count > system.count + 1
            else {
                throw fail("task.inputs", "\(SettingReader(key: "task.inputs", value: item, secret: false).shownValue) names no Kinesis system; accepted: <system>.<stream> where systems.<system>.samza.factory is \(KinesisSystemDescriptor.factoryClassName)")
            }
            let stream = String(item.dropFirst(system.count + 1))
            guard !inputs.contains(where: { $0.system.systemName == system && $0.streamID == stream }) else { continue }
            inputs.append(systems[system]!.inputDescriptor(streamID: stream))
        }

        // Every other key.
        for entry in properties.entries {
            let key = entry.key
            if key == "job.name" || key == "job.id" || key == "task.inputs" || key == "job.systemstreampartition.grouper.factory" {
                if key == "job.systemstreampartition.grouper.factory", entry.value.trimmingBlanks.isEmpty {
                    throw fail(key, "empty; accepted: a grouper class name (any: leases share the shards here)")
                }
                continue
            }
            if key.hasPrefix("systems."), key.hasSuffix(".samza.factory") { continue }
            let isSensitive = key.hasPrefix("sensitive.systems.")
            let body = isSensitive ? String(key.dropFirst("sensitive.systems.".count)) : key.hasPrefix("systems.") ? String(key.dropFirst("systems.".count)) : nil
            guard let body, let system = Self.longestPrefix(of: body, among: systems.keys, separator: ".") else {
                throw fail(key, "not a key this library accepts; accepted: job.name, job.id, task.inputs, job.systemstreampartition.grouper.factory, and systems.<system>.* / sensitive.systems.<system>.* keys of Kinesis systems (see SamzaKinesisConfiguration)")
            }
            let rest = String(body.dropFirst(system.count + 1))
            let parts = rest.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            if !isSensitive, parts.count == 2, parts[0] == "aws", parts[1] == "region" {
                systems[system]!.region = entry.value
                continue
            }
            if !isSensitive, parts.count == 3, parts[0] == "aws", parts[1] == "clientConfig" || parts[1] == "kcl", !parts[2].isEmpty {
                if parts[1] == "kcl" { systems[system]!.kclConfig[parts[2]] = entry.value } else { systems[system]!.awsConfig[parts[2]] = entry.value }
                continue
            }
            // systems.<system>.streams.<stream>.aws.(region|accessKey|kcl.<Name>), sensitive...aws.secretKey
            guard parts.count >= 4, parts[0] == "streams" else {
                throw fail(key, "not a key this library accepts for system '\(system)'; accepted: aws.region, aws.clientConfig.<Name>, aws.kcl.<Name>, streams.<stream>.aws.region, streams.<stream>.aws.accessKey, streams.<stream>.aws.kcl.<Name>, and sensitive.systems.<system>.streams.<stream>.aws.secretKey")
            }
            let setting: [String]
            if parts.count >= 5, parts[parts.count - 3] == "aws", parts[parts.count - 2] == "kcl" {
                setting = Array(parts.suffix(3))
            } else {
                setting = Array(parts.suffix(2))
            }
            let stream = parts.dropFirst().dropLast(setting.count).joined(separator: ".")
            guard let index = inputs.firstIndex(where: { $0.system.systemName == system && $0.streamID == stream }) else {
                throw fail(key, "configures stream '\(stream)', which is not in task.inputs; accepted: the streams of task.inputs (\(inputs.map { "\($0.system.systemName).\($0.streamID)" }.joined(separator: ", ")))")
            }
            switch (isSensitive, setting.first, setting.count == 2 ? setting[1] : nil) {
            case (false, "aws", "region"): inputs[index].region = entry.value
            case (false, "aws", "accessKey"): inputs[index].accessKey = entry.value
            case (true, "aws", "secretKey"): inputs[index].secretKey = entry.value
            case (false, "aws", nil) where setting.count == 3 && !setting[2].isEmpty: inputs[index].kclConfig[setting[2]] = entry.value
            default:
                throw fail(key, "not a key this library accepts for a stream; accepted: systems.<system>.streams.<stream>.aws.region, .aws.accessKey, .aws.kcl.<Name>, and sensitive.systems.<system>.streams.<stream>.aws.secretKey")
            }
        }
        // Stream descriptors carry their system's settings as finally read.
        for index in inputs.indices { inputs[index].system = systems[inputs[index].system.systemName]! }
        self.inputs = inputs

        // Every stream's settings are checked now, so a bad file fails at load.
        for input in inputs { _ = try consumerConfiguration(for: input) }
    }

    /// The input named `stream`, by stream name (or `<system>.<stream>`).
    public func input(_ stream: String) -> KinesisInputDescriptor? {
        inputs.first { $0.streamID == stream || "\($0.system.systemName).\($0.streamID)" == stream }
    }

    /// The application name and configuration for one input.
    public func consumerConfiguration(for input: KinesisInputDescriptor) throws -> (application: String, configuration: KinesisConsumer.Configuration) {
        try input.resolve(jobName: jobName, jobID: jobID, environment: environment) { locations[$0] }
    }

    /// The consumer for the input stream named `stream`.
    ///
    /// - Throws: ``KinesisConsumerError`` (``KinesisConsumerError/Code/invalidConfiguration``)
    ///   when the file has no such input.
    public func makeConsumer(stream: String) throws -> KinesisConsumer {
        guard let input = input(stream) else {
            throw KinesisConsumerError(
                code: .invalidConfiguration,
                message: "task.inputs has no stream '\(stream)'; accepted: \(inputs.map(\.streamID).joined(separator: ", "))"
            )
        }
        let (application, configuration) = try consumerConfiguration(for: input)
        return KinesisConsumer(stream: input.streamID, application: application, configuration: configuration)
    }

    /// One consumer per input stream, in `task.inputs` order.
    public func makeConsumers() throws -> [KinesisConsumer] {
        try inputs.map { try makeConsumer(stream: "\($0.system.systemName).\($0.streamID)") }
    }

    /// The longest of `candidates` that `text` starts with, followed by `separator`.
    private static func longestPrefix(of text: String, among candidates: some Sequence<String>, separator: Character) -> String? {
        candidates
            .filter { text.hasPrefix($0 + String(separator)) }
            .max { $0.count < $1.count }
    }
}
