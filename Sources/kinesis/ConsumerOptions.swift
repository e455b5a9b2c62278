import AWSCore
import ArgumentParser
import KinesisConsumer
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where leases and checkpoints live, as `--lease-store` spells it.
enum LeaseStoreChoice: Equatable {
    case sqlite(path: String)
    case dynamoDB(table: String?)

    static let accepted = "sqlite:<path>, dynamodb, or dynamodb:<table>"

    init(parsing text: String) throws {
        if text.hasPrefix("sqlite:"), text.count > "sqlite:".count {
            self = .sqlite(path: String(text.dropFirst("sqlite:".count)))
        } else if text == "dynamodb" {
            self = .dynamoDB(table: nil)
        } else if text.hasPrefix("dynamodb:"), text.count > "dynamodb:".count {
            self = .dynamoDB(table: String(text.dropFirst("dynamodb:".count)))
        } else {
            throw ValidationError("--lease-store is '\(text)'; accepted: \(Self.accepted)")
        }
    }

    var storage: KinesisConsumer.LeaseStorage {
        switch self {
        case .sqlite(let path): .sqlite(path: path)
        case .dynamoDB(let table): .dynamoDB(table: table)
        }
    }
}

/// The options that name a consumer application and its lease store: `consume` and `leases`.
struct ApplicationOptions: ParsableArguments {
    @Option(help: "The stream's name (or ARN).")
    var stream: String

    @Option(help: "The application's name: instances with the same name share the stream's shards and checkpoints (default: kinesis-cli-<stream>, or Samza's <job.name>-<job.id>-<stream> with --config; with --config, --app also names the DynamoDB table unless the file sets TableName).")
    var app: String?

    @Option(name: .customLong("lease-store"), help: "Where leases and checkpoints live: \(LeaseStoreChoice.accepted) (default: the SQLite file ./<app>.leases.sqlite; with --config, Samza's DynamoDB table). One store serves one application reading one stream, as in KCL.")
    var leaseStore: String?

    @Option(help: "A Samza properties file (Samza's Kinesis connector keys); its settings for --stream are used, and the options given here override them.")
    var config: String?

    func validate() throws {
        if let leaseStore { _ = try LeaseStoreChoice(parsing: leaseStore) }
    }

    /// The application's name, the stream's name and the consumer configuration: Samza's file (if
    /// any), then the options given on the command line. With `--config`, `--app` without
    /// `--lease-store` also names the DynamoDB table (as KCL does) unless the file sets `TableName`,
    /// so that a second application never takes the Samza job's leases.
    func resolve(global: GlobalOptions) async throws -> (application: String, stream: String, configuration: KinesisConsumer.Configuration) {
        var application: String
        var streamName = stream
        var configuration: KinesisConsumer.Configuration
        var fileSetsTable = false
        if let config {
            let job = try await SamzaKinesisConfiguration.load(contentsOf: config)
            guard let input = job.input(stream) else {
                throw CLIError("\(config) has no input stream '\(stream)' in task.inputs; it has: \(job.inputs.map(\.streamID).joined(separator: ", "))")
            }
            streamName = input.streamID
            fileSetsTable = (Array(input.kclConfig.keys) + Array(input.system.kclConfig.keys)).contains { $0.lowercased() == "tablename" }
            (application, configuration) = try job.consumerConfiguration(for: input)
        } else {
            application = "kinesis-cli-\(stream.split(separator: "/").last.map(String.init) ?? stream)"
            configuration = KinesisConsumer.Configuration()
        }
        if let app { application = app }
        global.apply(to: &configuration.aws)
        if let leaseStore {
            configuration.leaseStorage = try LeaseStoreChoice(parsing: leaseStore).storage
        } else if config == nil {
            configuration.leaseStorage = .sqlite(path: "./\(application).leases.sqlite")
        } else if let app, !fileSetsTable {
            configuration.leaseStorage = .dynamoDB(table: app)
        }
        return (application, streamName, configuration)
    }
}
