import AWSCore
import ArgumentParser
import Dispatch
import KinesisProducer
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
        discussion: "Records go through the library's KinesisProducer: PutRecords calls of up to 500 records and 5 MiB, failed entries sent again with backoff until --record-ttl, records with the same partition key kept in order. Prints a summary."
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
    @Option(name: .customLong("max-in-flight"), help: "PutRecords calls in flight at once (use 1 against the moto server, which loses records written concurrently to one shard).")
    var maxInFlight = 8
    @Option(name: .customLong("record-ttl"), help: "Seconds to keep trying to write a record before giving up.")
    var recordTTL = 30.0

    func validate() throws {
        if let generate, generate < 1 { throw ValidationError("--generate is \(generate); accepted: 1 or more") }
        guard (1...KinesisProducer.maxRecordBytes - 256).contains(size) else { throw ValidationError("--size is \(size); accepted: 1 to \(KinesisProducer.maxRecordBytes - 256) bytes") }
        if let partitionKey, !(1...256).contains(partitionKey.unicodeScalars.count) {
            throw ValidationError("--partition-key must have 1 to 256 characters")
        }
        guard (1...64).contains(maxInFlight) else { throw ValidationError("--max-in-flight is \(maxInFlight); accepted: 1 to 64") }
        guard recordTTL > 0, recordTTL <= 86_400 else { throw ValidationError("--record-ttl is \(recordTTL); accepted: more than 0, at most 86400 seconds") }
        if generate == nil, FileDescriptor.isTerminal(0) {
            throw ValidationError("reading records from standard input, which is a terminal; pipe lines in, or use --generate <count>")
        }
    }

    func run() async throws {
        try await global.run {
            var configuration = KinesisProducer.Configuration()
            configuration.aws = global.configuration()
            configuration.aggregation.isEnabled = aggregate
            configuration.maxRequestsInFlight = maxInFlight
            configuration.recordTTL = .milliseconds(Int64(recordTTL * 1000))
            let producer = KinesisProducer(stream: stream, configuration: configuration)
            let started = ContinuousClock.now
            // The feeder's failure is returned, not thrown, so that when `run()` fails (no region,
            // no credentials) its error is the one reported, not the refusals that follow it.
            let fed = try await withThrowingTaskGroup(of: Fed?.self) { group in
                group.addTask { try await producer.run(); return nil }
                group.addTask {
                    defer { producer.triggerGracefulShutdown() }
                    do {
                        let count = try await feed(producer)
                        do {
                            try await producer.flush()
                        } catch let error as KinesisProducerError where error.code == .undeliveredRecords {
                            throw CLIError("\(error.failedRecords) of \(count) records could not be written (\(count - error.failedRecords) were); last error: \(error.underlying.map { "\($0)" } ?? error.message)")
                        }
                        return .written(count)
                    } catch {
                        return .failed(error)
                    }
                }
                var fed: Fed?
                for try await result in group { if let result { fed = result } }
                return fed
            }
            guard case .written(let written) = fed else {
                if case .failed(let error) = fed { throw error }
                throw CLIError("the producer stopped before the records were given to it")
            }
            let statistics = producer.statistics
            let shards = statistics.recordsSentByShard.sorted { $0.key < $1.key }.map { "\(Progress.short($0.key)) \($0.value)" }.joined(separator: ", ")
            let packing = aggregate ? " in \(statistics.kinesisRecordsSent) Kinesis records" : ""
            print("kinesis put: \(written) records\(packing) to \(stream) in \(statistics.putRecordsCalls) PutRecords calls, \(statistics.retries) retries, \(secondsText(since: started)); per shard: \(shards.isEmpty ? "-" : shards)")
        }
    }

    /// Gives every input record to the producer (waiting when its buffer is full); returns how many.
    private func feed(_ producer: KinesisProducer) async throws -> Int {
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
                do {
                    try await producer.submit(data, partitionKey: partitionKey ?? UUID().uuidString)
                } catch let error as KinesisProducerError where error.code == .invalidRecord {
                    throw CLIError("record \(index): \(error.message)")
                }
            }
        }
        return index
    }

    /// `<index> ` and letters up to `size` bytes: printable, one line each.
    static func generated(_ index: Int, size: Int) -> [UInt8] {
        var bytes = Array("\(index) ".utf8.prefix(size))
        let letters = Array("abcdefghijklmnopqrstuvwxyz".utf8)
        while bytes.count < size { bytes.append(letters[(bytes.count + index) % letters.count]) }
        return bytes
    }
}

/// What feeding the producer came to.
private enum Fed: Sendable {
    case written(Int)
    case failed(any Error)
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

