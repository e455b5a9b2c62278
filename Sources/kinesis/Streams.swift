import AWSCore
import ArgumentParser
import KinesisAPI
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

struct Streams: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, create, delete and describe streams.",
        subcommands: [List.self, Create.self, Delete.self, Describe.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the name of every stream, one a line.")

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await global.run {
                let kinesis = try await KinesisClient(configuration: global.configuration())
                for name in try await kinesis.listStreams() { print(name) }
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a stream and wait until it is active.")

        @OptionGroup var global: GlobalOptions
        @Option(help: "The stream's name.") var stream: String
        @Option(name: .customLong("shard-count"), help: "Shards of a provisioned stream; leave out for an on-demand stream.")
        var shardCount: Int?
        @Flag(name: .customLong("no-wait"), help: "Return without waiting for the stream to become active.")
        var noWait = false

        func validate() throws {
            if let shardCount, shardCount < 1 { throw ValidationError("--shard-count is \(shardCount); accepted: 1 or more") }
        }

        func run() async throws {
            try await global.run {
                let kinesis = try await KinesisClient(configuration: global.configuration())
                try await kinesis.createStream(stream, shardCount: shardCount, mode: shardCount == nil ? .onDemand : .provisioned)
                if !noWait { try await waitUntilActive(kinesis, stream) }
                print("created \(stream)")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a stream.")

        @OptionGroup var global: GlobalOptions
        @Option(help: "The stream's name or ARN.") var stream: String

        func run() async throws {
            try await global.run {
                let kinesis = try await KinesisClient(configuration: global.configuration())
                try await kinesis.deleteStream(streamIdentifier(stream))
                print("deleted \(stream)")
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a stream's status, mode, retention and shard count.")

        @OptionGroup var global: GlobalOptions
        @Option(help: "The stream's name or ARN.") var stream: String

        func run() async throws {
            try await global.run {
                let kinesis = try await KinesisClient(configuration: global.configuration())
                let summary = try await kinesis.describeStreamSummary(streamIdentifier(stream))
                let rows: [(String, String)] = [
                    ("name", summary.streamName),
                    ("arn", summary.streamARN),
                    ("status", summary.streamStatus.rawValue),
                    ("mode", summary.streamMode?.rawValue ?? "-"),
                    ("open shards", String(summary.openShardCount)),
                    ("retention", "\(summary.retentionPeriodHours) h"),
                    ("encryption", summary.encryptionType?.rawValue ?? "NONE"),
                    ("created", summary.streamCreationTimestamp.formatted(.iso8601)),
                ]
                print(Table(header: nil, rows: rows.map { [$0.0, $0.1] }).text, terminator: "")
            }
        }
    }
}

struct Shards: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a stream's shards: hash-key ranges, parents, and whether they are open.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "The stream's name or ARN.") var stream: String

    func run() async throws {
        try await global.run {
            let kinesis = try await KinesisClient(configuration: global.configuration())
            let shards = try await kinesis.listShards(streamIdentifier(stream))
            let rows = shards.map { shard in
                [
                    shard.shardID,
                    shard.isClosed ? "closed" : "open",
                    String(shard.hashKeyRange.startingHashKey),
                    String(shard.hashKeyRange.endingHashKey),
                    shard.parentShardIDs.joined(separator: ",").nonEmpty ?? "-",
                ]
            }
            print(Table(header: ["shard", "state", "starting hash key", "ending hash key", "parents"], rows: rows).text, terminator: "")
        }
    }
}

func streamIdentifier(_ text: String) -> StreamIdentifier {
    text.hasPrefix("arn:") ? .arn(text) : .name(text)
}

/// Waits (bounded: two minutes) until the stream is active.
func waitUntilActive(_ kinesis: KinesisClient, _ stream: String) async throws {
    for _ in 0..<600 {
        if try await kinesis.describeStreamSummary(.name(stream)).streamStatus == .active { return }
        try await Task.sleep(for: .milliseconds(200))
    }
    throw CLIError("stream \(stream) did not become active within two minutes")
}

/// Columns padded to their widest cell.
struct Table {
    var header: [String]?
    var rows: [[String]]

    var text: String {
        let all = (header.map { [$0] } ?? []) + rows
        let columns = all.map(\.count).max() ?? 0
        let widths = (0..<columns).map { column in all.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}
