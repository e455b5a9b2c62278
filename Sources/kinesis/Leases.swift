import AWSCore
import ArgumentParser
import KinesisConsumer
import KinesisLeases
import Logging
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

struct Leases: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print an application's leases: each shard's owner, checkpoint and lease counter.",
        discussion: "Reads the same store `kinesis consume` would use with the same options; it creates nothing."
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var application: ApplicationOptions

    func run() async throws {
        try await global.run {
            let (name, _, configuration) = try await application.resolve(global: global)
            if let path = configuration.leaseStorage.sqlitePath, !FileManager.default.fileExists(atPath: path) {
                throw CLIError("no lease store at \(path) (for application \(name)); `kinesis consume` creates it")
            }
            let store = try await configuration.leaseStorage.makeStore(application: name, aws: configuration.aws, logger: Logger(label: "kinesis.leases"))
            let leases = try await store.leases().sorted { $0.leaseKey < $1.leaseKey }
            let rows = leases.map { lease in
                [lease.leaseKey, lease.owner ?? "-", lease.checkpoint.description, String(lease.counter)]
            }
            print(Table(header: ["shard", "owner", "checkpoint", "counter"], rows: rows).text, terminator: "")
        }
    }
}
