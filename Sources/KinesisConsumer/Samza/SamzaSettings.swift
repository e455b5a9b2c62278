#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AWSCore

/// A setting that cannot be used: the properties key it comes from and what is wrong.
struct SamzaSettingError: Error {
    var key: String
    var problem: String
}

/// Turns one input descriptor (and its system's) into a consumer configuration, the way Samza
/// configures its KCL worker: application `<job name>-<job id>-<stream>`, the DynamoDB lease
/// table of that name unless `TableName` says otherwise, `LATEST` unless
/// `InitialPositionInStream` says otherwise, system-wide KCL settings overridden by the stream's.
struct SamzaSettings {
    let input: KinesisInputDescriptor
    let jobName: String
    let jobID: String

    var systemPrefix: String { "systems.\(input.system.systemName).aws." }
    var streamPrefix: String { "systems.\(input.system.systemName).streams.\(input.streamID).aws." }

    static let kclNames = [
        "TableName", "InitialPositionInStream", "TimestampAtInitialPositionInStream", "failoverTimeMillis", "maxRecords",
        "idleTimeBetweenReadsInMillis", "maxLeasesForWorker", "maxLeasesToStealAtOneTime", "shardSyncIntervalMillis",
        "WorkerId", "workerIdentifier", "ApplicationName", "callProcessRecordsEvenForEmptyRecordList",
    ]
    static let clientConfigNames = [
        "ProxyHost", "ProxyPort", "ProxyUsername", "ProxyPassword", "ConnectionTimeout", "SocketTimeout", "RequestTimeout",
        "ClientExecutionTimeout", "MaxConnections", "MaxErrorRetry", "UserAgent", "UseGzip",
    ]
    /// Settings whose values are secret: never repeated in an error.
    static let secretNames: Set<String> = ["proxypassword"]

    mutating func resolve(environment: AWSEnvironment) throws -> (application: String, configuration: KinesisConsumer.Configuration) {
        var configuration = KinesisConsumer.Configuration()
        configuration.aws.environment = environment
        try applyRegion(&configuration.aws)
        try applyCredentials(&configuration.aws)
        try applyClientConfig(&configuration.aws)
        let application = try applyKCL(&configuration)
        return (application, configuration)
    }

    private func applyRegion(_ aws: inout AWSConfiguration) throws {
        let setting: (key: String, value: String)? =
            if let region = input.region { (streamPrefix + "region", region) }
            else if let region = input.system.region { (systemPrefix + "region", region) }
            else { nil }
        guard let setting else { return }
        let value = setting.value.trimmingBlanks
        guard Self.isRegionName(value) else {
            let shown = SettingReader(key: setting.key, value: setting.value, secret: false).shownValue
            throw SamzaSettingError(key: setting.key, problem: "\(shown) is not a region; accepted: an AWS region name such as us-east-1")
        }
        aws.region = Region(rawValue: value)
    }

    static func isRegionName(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        return parts.count >= 3
            && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) } }
            && parts[0].allSatisfy { ("a"..."z").contains($0) }
            && parts.last!.allSatisfy { ("0"..."9").contains($0) }
    }

    private func applyCredentials(_ aws: inout AWSConfiguration) throws {
        let accessKeyKey = streamPrefix + "accessKey"
        let secretKeyKey = "sensitive." + streamPrefix + "secretKey"
        let accessKey = input.accessKey?.trimmingBlanks.nonEmpty
        let secretKey = input.secretKey?.trimmingBlanks.nonEmpty
        switch (accessKey, secretKey) {
        case (nil, nil):
            return  // the AWS chain
        case (let accessKey?, let secretKey?):
            aws.credentialProvider = .static(accessKeyID: accessKey, secretAccessKey: secretKey)
        case (_?, nil):
            throw SamzaSettingError(key: secretKeyKey, problem: "missing, but \(accessKeyKey) is set; accepted: both keys, or neither for the AWS credential chain")
        case (nil, _?):
            throw SamzaSettingError(key: accessKeyKey, problem: "missing, but \(secretKeyKey) is set; accepted: both keys, or neither for the AWS credential chain")
        }
    }

    private func applyClientConfig(_ aws: inout AWSConfiguration) throws {
        let prefix = "systems.\(input.system.systemName).aws.clientConfig."
        var settings: [String: (name: String, value: String)] = [:]
        if let host = input.system.proxyHost { settings["proxyhost"] = ("ProxyHost", host) }
        if let port = input.system.proxyPort { settings["proxyport"] = ("ProxyPort", String(port)) }
        for (name, value) in input.system.awsConfig where !value.isEmpty {
            settings[name.lowercased()] = (name, value)
        }
        var http = aws.http
        var proxyHost: String?
        var proxyPort: Int?
        var proxyUsername: String?
        var proxyPassword: String?
        for (lowered, setting) in settings.sorted(by: { $0.key < $1.key }) {
            let reader = SettingReader(key: prefix + setting.name, value: setting.value, secret: Self.secretNames.contains(lowered))
            switch lowered {
            case "proxyhost": proxyHost = try reader.text()
            case "proxyport": proxyPort = try reader.integer(in: 1...65_535)
            case "proxyusername": proxyUsername = try reader.text()
            case "proxypassword": proxyPassword = try reader.text()
            case "connectiontimeout": http.connectTimeout = .milliseconds(try reader.integer(in: 1...Int(Int32.max), unit: "milliseconds"))
            case "sockettimeout":
                let millis = try reader.integer(in: 0...Int(Int32.max), unit: "milliseconds (0 for no limit)")
                http.idleTimeout = millis == 0 ? nil : .milliseconds(millis)
            case "requesttimeout", "clientexecutiontimeout":
                http.requestTimeout = .milliseconds(try reader.integer(in: 1...Int(Int32.max), unit: "milliseconds"))
            case "maxconnections": http.maxConnections = try reader.integer(in: 1...100_000)
            case "maxerrorretry": aws.retry.maxAttempts = try reader.integer(in: 0...100) + 1
            case "useragent": http.userAgent = "\(try reader.text()) \(AWSConfiguration().http.userAgent)"
            case "usegzip": http.acceptCompressedResponses = try reader.boolean()
            default:
                throw SamzaSettingError(
                    key: prefix + setting.name,
                    problem: "not a client setting this library knows; accepted: \(Self.clientConfigNames.joined(separator: ", ")) (names match ignoring case)"
                )
            }
        }
        switch (proxyHost, proxyPort) {
        case (let host?, let port?):
            http.proxy = CurlTransport.Proxy(host: host, port: port, username: proxyUsername, password: proxyPassword)
        case (_?, nil):
            throw SamzaSettingError(key: prefix + "ProxyPort", problem: "missing, but ProxyHost is set; accepted: a port from 1 to 65535")
        case (nil, _?):
            throw SamzaSettingError(key: prefix + "ProxyHost", problem: "missing, but ProxyPort is set; accepted: a host name or address")
        case (nil, nil):
            if proxyUsername != nil || proxyPassword != nil {
                throw SamzaSettingError(key: prefix + "ProxyHost", problem: "missing, but a proxy user name or password is set; accepted: a host name or address")
            }
        }
        aws.http = http
    }

    private func applyKCL(_ configuration: inout KinesisConsumer.Configuration) throws -> String {
        var settings: [String: (key: String, value: String)] = [:]
        for (name, value) in input.system.kclConfig where !value.isEmpty {
            settings[name.lowercased()] = (systemPrefix + "kcl." + name, value)
        }
        for (name, value) in input.kclConfig where !value.isEmpty {
            settings[name.lowercased()] = (streamPrefix + "kcl." + name, value)
        }
        var application = input.defaultApplicationName(jobName: jobName, jobID: jobID)
        // Samza names the table after its application name `<job>-<id>-<stream>`; `ApplicationName`
        // changes the application only, as setting it on a KCL configuration after construction does.
        var table = application
        var position = KinesisConsumer.InitialPosition.latest
        var positionName = "LATEST"
        var timestamp: Date?
        for (lowered, setting) in settings.sorted(by: { $0.key < $1.key }) {
            let reader = SettingReader(key: setting.key, value: setting.value, secret: false)
            switch lowered {
            case "tablename": table = try reader.tableName()
            case "initialpositioninstream":
                positionName = try reader.choice(["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"])
            case "timestampatinitialpositioninstream": timestamp = try reader.timestamp()
            case "failovertimemillis": configuration.leases.failoverTime = .milliseconds(try reader.integer(in: 300...Int(Int32.max), unit: "milliseconds"))
            case "maxrecords": configuration.polling.maxRecords = try reader.integer(in: 1...10_000)
            case "idletimebetweenreadsinmillis":
                configuration.polling.idleTimeBetweenReads = .milliseconds(try reader.integer(in: 0...Int(Int32.max), unit: "milliseconds"))
            case "maxleasesforworker": configuration.leases.maxLeasesForWorker = try reader.integer(in: 1...Int(Int32.max))
            case "maxleasestostealatonetime": configuration.leases.maxLeasesToStealAtOneTime = try reader.integer(in: 1...Int(Int32.max))
            case "shardsyncintervalmillis": configuration.leases.shardSyncInterval = .milliseconds(try reader.integer(in: 1...Int(Int32.max), unit: "milliseconds"))
            case "workerid", "workeridentifier": configuration.workerID = try reader.text()
            case "applicationname": application = try reader.text()
            case "callprocessrecordsevenforemptyrecordlist":
                // Accepted for compatibility: the envelope sequence has no empty batches to call
                // with; lag is in `statistics.millisBehindLatest` and the metrics.
                _ = try reader.boolean()
            default:
                throw SamzaSettingError(
                    key: setting.key,
                    problem: "not a KCL setting this library knows; accepted: \(Self.kclNames.joined(separator: ", ")) (names match ignoring case)"
                )
            }
        }
        switch positionName {
        case "TRIM_HORIZON": position = .trimHorizon
        case "AT_TIMESTAMP":
            guard let timestamp else {
                let key = settings["initialpositioninstream"]?.key ?? streamPrefix + "kcl.InitialPositionInStream"
                throw SamzaSettingError(
                    key: key,
                    problem: "is AT_TIMESTAMP but no TimestampAtInitialPositionInStream is set; accepted: an ISO 8601 time or epoch milliseconds in that key"
                )
            }
            position = .atTimestamp(timestamp)
        default: position = .latest
        }
        configuration.initialPosition = position
        configuration.leaseStorage = .dynamoDB(table: table)
        return application
    }
}

/// Reads one setting's value, with errors that name the key, the value (unless secret) and
/// what is accepted.
struct SettingReader {
    let key: String
    let value: String
    let secret: Bool

    /// The value as an error shows it: never a secret, nor a value that may have swallowed one
    /// (a line continued into the next, `…region=us-east-1\` before a `secretKey` line).
    private var shown: String {
        let lowered = value.lowercased()
        if secret || lowered.contains("secretkey") || lowered.contains("password") || lowered.contains("sensitive.") {
            return "<value withheld: it may hold a secret>"
        }
        return "'\(value)'"
    }

    var shownValue: String { shown }

    func fail(_ accepted: String) -> SamzaSettingError {
        SamzaSettingError(key: key, problem: "\(shown) is not accepted; accepted: \(accepted)")
    }

    func text() throws -> String {
        guard let text = value.trimmingBlanks.nonEmpty else { throw fail("a non-empty value") }
        return text
    }

    func integer(in range: ClosedRange<Int>, unit: String? = nil) throws -> Int {
        guard let number = Int(value.trimmingBlanks), range.contains(number) else {
            let upper = range.upperBound == Int(Int32.max) ? "\(range.lowerBound) or more" : "\(range.lowerBound) to \(range.upperBound)"
            throw fail("a whole number, \(upper)\(unit.map { " \($0)" } ?? "")")
        }
        return number
    }

    func boolean() throws -> Bool {
        switch value.trimmingBlanks.lowercased() {
        case "true": return true
        case "false": return false
        default: throw fail("true or false")
        }
    }

    func choice(_ choices: [String]) throws -> String {
        let upper = value.trimmingBlanks.uppercased()
        guard choices.contains(upper) else { throw fail(choices.joined(separator: ", ")) }
        return upper
    }

    func tableName() throws -> String {
        let name = value.trimmingBlanks
        let allowed = name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" || $0 == "."
        }
        guard (3...255).contains(name.utf8.count), allowed else {
            throw fail("a DynamoDB table name: 3 to 255 letters, digits, '_', '-' or '.'")
        }
        return name
    }

    func timestamp() throws -> Date {
        guard let date = parseTimestamp(value.trimmingBlanks) else {
            throw fail("an ISO 8601 time such as 2026-11-21T08:00:00Z, or milliseconds since 1970")
        }
        return date
    }
}

/// An ISO 8601 time (with or without fractional seconds) or milliseconds since 1970.
func parseTimestamp(_ text: String) -> Date? {
    if let millis = Int64(text) { return Date(timeIntervalSince1970: Double(millis) / 1000) }
    if let date = try? Date.ISO8601FormatStyle().parse(text) { return date }
    return try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)
}

extension String {
    /// Without leading and trailing spaces and tabs.
    var trimmingBlanks: String {
        let scalars = unicodeScalars
        let isBlank: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\u{0C}" || $0 == "\r" || $0 == "\n" }
        guard let first = scalars.firstIndex(where: { !isBlank($0) }), let last = scalars.lastIndex(where: { !isBlank($0) }) else { return "" }
        return String(scalars[first...last])
    }

    var nonEmpty: String? { isEmpty ? nil : self }
}
