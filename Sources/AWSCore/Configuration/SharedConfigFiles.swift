/// The AWS shared configuration and credentials files (`~/.aws/config`, `~/.aws/credentials`), as
/// the AWS SDKs read them.
///
/// The credentials file has sections `[name]`; the config file has `[default]` and
/// `[profile name]` (other section kinds, such as `[sso-session x]`, are read but not used). For
/// one profile, a setting in the credentials file wins over the same one in the config file.
public struct SharedConfigFiles: Sendable {
    /// Where the files are and what they hold.
    public struct Source: Sendable, Hashable {
        public var path: String
        /// Whether the file existed.
        public var exists: Bool
    }

    /// A profile's settings, keys lower-cased.
    public typealias Profile = [String: String]

    public var credentialsFile: Source
    public var configFile: Source
    private var credentialsProfiles: [String: Profile]
    private var configProfiles: [String: Profile]

    /// Loads the files named by `AWS_SHARED_CREDENTIALS_FILE` and `AWS_CONFIG_FILE`, or the
    /// defaults under `~/.aws`. Missing files are empty; malformed ones throw an error naming the
    /// file and line. Reads on a thread of its own.
    public static func load(environment: AWSEnvironment) async throws -> SharedConfigFiles {
        try await BlockingIO.run { try loadBlocking(environment: environment) }
    }

    static func loadBlocking(environment: AWSEnvironment) throws -> SharedConfigFiles {
        let credentialsPath = environment.expandingTilde(environment["AWS_SHARED_CREDENTIALS_FILE"] ?? "~/.aws/credentials")
        let configPath = environment.expandingTilde(environment["AWS_CONFIG_FILE"] ?? "~/.aws/config")
        let credentialsText = try BlockingIO.readFile(credentialsPath)
        let configText = try BlockingIO.readFile(configPath)
        return try SharedConfigFiles(
            credentialsFile: Source(path: credentialsPath, exists: credentialsText != nil),
            credentialsText: credentialsText ?? "",
            configFile: Source(path: configPath, exists: configText != nil),
            configText: configText ?? ""
        )
    }

    /// Parses the two files' texts.
    public init(credentialsFile: Source, credentialsText: String, configFile: Source, configText: String) throws(AWSError) {
        self.credentialsFile = credentialsFile
        self.configFile = configFile
        credentialsProfiles = try Self.parse(credentialsText, path: credentialsFile.path, isConfigFile: false)
        configProfiles = try Self.parse(configText, path: configFile.path, isConfigFile: true)
    }

    /// The merged settings of profile `name`, or `nil` when neither file has it.
    public func profile(_ name: String) -> Profile? {
        let fromConfig = configProfiles[name]
        let fromCredentials = credentialsProfiles[name]
        guard fromConfig != nil || fromCredentials != nil else { return nil }
        return (fromConfig ?? [:]).merging(fromCredentials ?? [:]) { _, credentials in credentials }
    }

    /// Where a profile was looked for, for error messages.
    func describeSearch(for name: String) -> String {
        func describe(_ source: Source) -> String {
            source.exists ? "\(source.path)" : "\(source.path) (no such file)"
        }
        return "profile '\(name)' in \(describe(credentialsFile)) and \(describe(configFile))"
    }

    /// Parses INI text into profiles. Comments start with `#` or `;` (at the start of a line, or
    /// after white space); indented lines under a key with an empty value are sub-settings and are
    /// skipped; anything else that is not `[section]` or `key = value` is an error.
    static func parse(_ text: String, path: String, isConfigFile: Bool) throws(AWSError) -> [String: Profile] {
        var profiles: [String: Profile] = [:]
        var current: String?
        var inSubsection = false
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let isIndented = rawLine.first == " " || rawLine.first == "\t"
            let line = stripComment(rawLine).trimmingASCIIWhitespace()
            if line.isEmpty { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else {
                    throw .configuration("\(path) line \(lineNumber): section header '\(line)' has no closing ']'")
                }
                let name = line.dropFirst().dropLast().trimmingASCIIWhitespace()
                inSubsection = false
                if isConfigFile {
                    if name == "default" {
                        current = "default"
                    } else if name.hasPrefix("profile ") || name.hasPrefix("profile\t") {
                        current = name.dropFirst("profile".count).trimmingASCIIWhitespace()
                    } else {
                        current = nil  // [sso-session ...], [services ...]: not profiles
                    }
                } else {
                    current = name
                }
                if let current {
                    guard !current.isEmpty else {
                        throw .configuration("\(path) line \(lineNumber): empty profile name")
                    }
                    if profiles[current] == nil { profiles[current] = [:] }
                }
                continue
            }
            if isIndented && inSubsection { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw .configuration("\(path) line \(lineNumber): expected 'key = value' or '[section]', found something else")
            }
            let key = line[..<equals].trimmingASCIIWhitespace().lowercased()
            let value = line[line.index(after: equals)...].trimmingASCIIWhitespace()
            guard !key.isEmpty else {
                throw .configuration("\(path) line \(lineNumber): a setting has no name")
            }
            inSubsection = value.isEmpty
            guard let current else { continue }
            if !value.isEmpty {
                profiles[current, default: [:]][key] = value
            }
        }
        return profiles
    }

    private static func stripComment(_ line: Substring) -> Substring {
        var previousIsSpace = true
        for index in line.indices {
            let character = line[index]
            if (character == "#" || character == ";") && previousIsSpace {
                return line[..<index]
            }
            previousIsSpace = character == " " || character == "\t"
        }
        return line
    }
}
