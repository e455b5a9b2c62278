import AWSCore
import ArgumentParser
import Dispatch
import KinesisAPI
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

struct Put: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write records: one per line of standard input, or generated ones.",
        discussion: "Records go out in PutRecords calls of up to 500 records and 5 MiB; entries that fail are sent again with backoff. Prints a summary."
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: "The stream's name (or ARN).") var stream: String
    @Option(name: .customLong("partition-key"), help: "The partition key of every record (default: a random one per record).")
    var partitionKey: String?
    @Option(help: "Write this many generated records instead of reading standard input.")
    var generate: Int?
    @Option(help: "The size in bytes of each generated record.")
    var size = 100
    @Flag(help: "Pack records for the same shard into KPL aggregated records (up to 51,200 bytes each).")
    var aggregate = false

    static let maxRecordBytes = 1_048_576

    func validate() throws {
        if let generate, generate < 1 { throw ValidationError("--generate is \(generate); accepted: 1 or more") }
        guard (1...Self.maxRecordBytes - 256).contains(size) else { throw ValidationError("--size is \(size); accepted: 1 to \(Self.maxRecordBytes - 256) bytes") }
        if let partitionKey, !(1...256).contains(partitionKey.utf8.count) {
            throw ValidationError("--partition-key must have 1 to 256 bytes")
        }
        if generate == nil, FileDescriptor.isTerminal(0) {
            throw ValidationError("reading records from standard input, which is a terminal; pipe lines in, or use --generate <count>")
        }
    }

    func run() async throws {
        try await global.run {
            let kinesis = try await KinesisClient(configuration: global.configuration())
            let started = ContinuousClock.now
            var writer = try await RecordWriter(kinesis: kinesis, stream: streamIdentifier(stream), aggregate: aggregate)
            var index = 0
            let input = LineReader()
            while true {
                let lines: [[UInt8]]
                if let generate {
                    guard index < generate else { break }
                    lines = (index..<min(generate, index + 1000)).map { Self.generated($0, size: size) }
                } else {
                    guard let read = await input.next(max: 1000) else { break }
                    lines = read
                }
                for data in lines {
                    index += 1
                    let key = partitionKey ?? UUID().uuidString
                    guard data.count + key.utf8.count <= Self.maxRecordBytes else {
                        throw CLIError("record \(index) has \(data.count) bytes; accepted: at most \(Self.maxRecordBytes) bytes with its partition key")
                    }
                    try await writer.add(data: data, partitionKey: key)
                }
            }
            try await writer.finish()
            let shards = writer.perShard.sorted { $0.key < $1.key }.map { "\(Progress.short($0.key)) \($0.value)" }.joined(separator: ", ")
            let packing = aggregate ? " in \(writer.kinesisRecords) aggregated records" : ""
            print("kinesis put: \(writer.userRecords) records\(packing) to \(stream) in \(writer.calls) PutRecords calls, \(writer.retriedEntries) entries retried, \(secondsText(since: started)); per shard: \(shards.isEmpty ? "-" : shards)")
        }
    }

    /// `<index> ` and letters up to `size` bytes: printable, one line each.
    static func generated(_ index: Int, size: Int) -> [UInt8] {
        var bytes = Array("\(index) ".utf8.prefix(size))
        let letters = Array("abcdefghijklmnopqrstuvwxyz".utf8)
        while bytes.count < size { bytes.append(letters[(bytes.count + index) % letters.count]) }
        return bytes
    }
}

/// Standard input's lines as raw bytes (not decoded, so binary or Latin-1 data is sent as it is),
/// read on a thread of their own.
final class LineReader: Sendable {
    private let queue = DispatchQueue(label: "kinesis.put.stdin")
    /// Standard input as a `FILE`, used on `queue` only (which makes sharing it safe).
    private nonisolated(unsafe) let input = fdopen(0, "r")

    /// Up to `max` lines, without their `\n` (or `\r\n`); `nil` at the end of input.
    func next(max: Int) async -> [[UInt8]]? {
        await withCheckedContinuation { continuation in
            queue.async {
                var lines: [[UInt8]] = []
                var pointer: UnsafeMutablePointer<CChar>?
                var capacity = 0
                defer { free(pointer) }
                while lines.count < max {
                    let length = getline(&pointer, &capacity, self.input)
                    guard length >= 0, let pointer else { break }
                    var line = UnsafeRawBufferPointer(start: pointer, count: length).map { $0 }
                    if line.last == UInt8(ascii: "\n") { line.removeLast() }
                    if line.last == UInt8(ascii: "\r") { line.removeLast() }
                    lines.append(line)
                }
                continuation.resume(returning: lines.isEmpty ? nil : lines)
            }
        }
    }
}

/// Batches records into `PutRecords` calls (500 records, 5 MiB), optionally packing them into
/// KPL aggregated records per shard first, and sends failed entries again with backoff.
struct RecordWriter {
    let kinesis: KinesisClient
    let stream: StreamIdentifier
    let shards: [(range: HashKeyRange, id: String)]
    var builders: [String: AggregatedRecordBuilder] = [:]
    var batch: [PutRecordsEntry] = []
    var batchBytes = 0
    private(set) var userRecords = 0
    private(set) var kinesisRecords = 0
    private(set) var calls = 0
    private(set) var retriedEntries = 0
    private(set) var perShard: [String: Int] = [:]
    /// User records in each entry of `batch` (more than one for an aggregated record).
    private var batchCounts: [Int] = []

    static let maxEntries = 500
    static let maxCallBytes = 5 * 1024 * 1024
    static let maxAttempts = 10

    init(kinesis: KinesisClient, stream: StreamIdentifier, aggregate: Bool) async throws {
        self.kinesis = kinesis
        self.stream = stream
        shards = aggregate
            ? try await kinesis.listShards(stream).filter { !$0.isClosed }.map { ($0.hashKeyRange, $0.shardID) }
            : []
    }

    mutating func add(data: [UInt8], partitionKey: String) async throws {
        userRecords += 1
        guard !shards.isEmpty else {
            try await enqueue(PutRecordsEntry(data: data, partitionKey: partitionKey), userRecords: 1)
            return
        }
        let hashKey = HashKey.of(partitionKey: partitionKey)
        let shard = shards.first { $0.range.contains(hashKey) }?.id ?? shards[0].id
        let record = UserRecord(partitionKey: partitionKey, data: data[...])
        var builder = builders[shard] ?? AggregatedRecordBuilder()
        if !builder.append(record) {
            try await emit(builder)
            builder = AggregatedRecordBuilder()
            if !builder.append(record) {
                // Too large to aggregate: sent as it is.
                try await enqueue(PutRecordsEntry(data: data, partitionKey: partitionKey), userRecords: 1)
            }
        }
        builders[shard] = builder
    }

    mutating func finish() async throws {
        for builder in builders.values where builder.count > 0 { try await emit(builder) }
        builders = [:]
        try await send()
    }

    private mutating func emit(_ builder: AggregatedRecordBuilder) async throws {
        guard builder.count > 0, let key = builder.partitionKey else { return }
        let entry = PutRecordsEntry(data: builder.build(), partitionKey: key, explicitHashKey: builder.explicitHashKey)
        try await enqueue(entry, userRecords: builder.count)
    }

    private mutating func enqueue(_ entry: PutRecordsEntry, userRecords: Int) async throws {
        let bytes = entry.data.count + entry.partitionKey.utf8.count
        if batch.count == Self.maxEntries || batchBytes + bytes > Self.maxCallBytes { try await send() }
        batch.append(entry)
        batchCounts.append(userRecords)
        batchBytes += bytes
    }

    private mutating func send() async throws {
        var entries = batch
        var counts = batchCounts
        batch = []
        batchCounts = []
        batchBytes = 0
        var attempt = 0
        while !entries.isEmpty {
            attempt += 1
            calls += 1
            let output: PutRecordsOutput
            do {
                output = try await kinesis.putRecords(stream, entries: entries)
            } catch {
                let written = perShard.values.reduce(0, +)
                throw CLIError("PutRecords failed after \(written) of the records so far were written (\(counts.reduce(0, +)) in this call were not): \(error)")
            }
            var failed: [PutRecordsEntry] = []
            var failedCounts: [Int] = []
            var lastError = ""
            for (index, result) in output.results.enumerated() {
                switch result {
                case .success(let shardID, _):
                    kinesisRecords += 1
                    perShard[shardID, default: 0] += counts[index]
                case .failure(let code, let message):
                    failed.append(entries[index])
                    failedCounts.append(counts[index])
                    lastError = "\(code): \(message)"
                }
            }
            guard !failed.isEmpty else { return }
            guard attempt < Self.maxAttempts else {
                throw CLIError("\(failedCounts.reduce(0, +)) records could not be written after \(attempt) attempts; last error \(lastError)")
            }
            retriedEntries += failed.count
            entries = failed
            counts = failedCounts
            let base = min(5000, 100 << min(attempt, 6))
            try await Task.sleep(for: .milliseconds(Int.random(in: base / 2...base)))
        }
    }
}
