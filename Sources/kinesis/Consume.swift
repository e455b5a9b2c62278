import AWSCore
import ArgumentParser
@_spi(Tooling) import KinesisAPI
import KinesisConsumer
import Logging
import Synchronization
import UnixSignals
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

struct Consume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read a stream's records to standard output, sharing shards and checkpoints with other instances of the application.",
        discussion: """
            Records go to standard output; progress goes to standard error (a live line on a terminal, \
            otherwise a plain line every 5 seconds). A record is checkpointed only after it was written out. \
            Ctrl-C or SIGTERM stops gracefully: what was written is checkpointed and the leases are released \
            for other instances; a second Ctrl-C exits at once.
            """
    )

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
        case raw, jsonl
    }

    @OptionGroup var global: GlobalOptions
    @OptionGroup var application: ApplicationOptions

    @Option(help: "Where to start in shards that have no checkpoint yet: trim-horizon, latest, or at-timestamp:<ISO 8601 time> (default: latest, as KCL; with --config, the file's InitialPositionInStream).")
    var from: String?

    @Option(help: "raw: each record's data and a newline; jsonl: one JSON object a record with shardId, sequenceNumber, subSequenceNumber, partitionKey, explicitHashKey, approximateArrivalTimestamp and data (base64).")
    var output: OutputFormat = .raw

    @Option(name: .customLong("checkpoint-every"), help: "Checkpoint after this many records (and every 5 seconds when records came).")
    var checkpointEvery = 1000

    @Option(name: .customLong("max-records"), help: "Stop after writing this many records.")
    var maxRecords: Int?

    @Option(name: .customLong("until-idle"), help: "Stop once no record has come for this many seconds and every held shard is caught up with the stream's tip.")
    var untilIdle: Double?

    func validate() throws {
        if let from { _ = try Self.initialPosition(from) }
        guard checkpointEvery >= 1 else { throw ValidationError("--checkpoint-every is \(checkpointEvery); accepted: 1 or more") }
        if let maxRecords, maxRecords < 1 { throw ValidationError("--max-records is \(maxRecords); accepted: 1 or more") }
        if let untilIdle, !(untilIdle > 0) { throw ValidationError("--until-idle is \(untilIdle); accepted: a number of seconds above 0") }
    }

    static func initialPosition(_ text: String) throws -> KinesisConsumer.InitialPosition {
        switch text {
        case "trim-horizon": return .trimHorizon
        case "latest": return .latest
        case _ where text.hasPrefix("at-timestamp:"):
            let time = String(text.dropFirst("at-timestamp:".count))
            if let position = KinesisConsumer.InitialPosition.atTimestamp(parsing: time) { return position }
            throw ValidationError("--from at-timestamp: needs an ISO 8601 time such as 2026-11-21T08:00:00Z, not '\(time)'")
        default:
            throw ValidationError("--from is '\(text)'; accepted: trim-horizon, latest, at-timestamp:<ISO 8601 time>")
        }
    }

    func run() async throws {
        // A closed standard output (`| head`) is an error of write(2), handled as a stop, not a
        // signal that kills the process before it checkpoints and releases its leases.
        signal(SIGPIPE, SIG_IGN)
        try await global.run {
            var (name, stream, configuration) = try await application.resolve(global: global)
            if let from { configuration.initialPosition = try Self.initialPosition(from) }
            configuration.checkpointing = .manual
            configuration.logger = Logger(label: "kinesis.consume")
            let consumer = KinesisConsumer(stream: stream, application: name, configuration: configuration)
            let session = ConsumeSession(
                consumer: consumer,
                output: RecordOutput(format: output, flushEachRecord: FileDescriptor.isTerminal(1)),
                checkpointEvery: checkpointEvery,
                maxRecords: maxRecords,
                untilIdle: untilIdle.map { .milliseconds(Int($0 * 1000)) }
            )
            try await session.run()
        }
    }
}

/// One run of `kinesis consume`: the consumer, the record loop, checkpoints after output, the
/// progress line, signals and the stop conditions.
final class ConsumeSession: Sendable {
    let consumer: KinesisConsumer
    let output: RecordOutput
    let checkpointEvery: Int
    let maxRecords: Int?
    let untilIdle: Duration?
    let started = ContinuousClock.now
    private let stopping = Atomic<Bool>(false)
    private let stopReason = Mutex<String?>(nil)
    private let checkpointInterval: Duration = .seconds(5)

    init(consumer: KinesisConsumer, output: RecordOutput, checkpointEvery: Int, maxRecords: Int?, untilIdle: Duration?) {
        self.consumer = consumer
        self.output = output
        self.checkpointEvery = checkpointEvery
        self.maxRecords = maxRecords
        self.untilIdle = untilIdle
    }

    func run() async throws {
        let progress = Progress(terminal: FileDescriptor.isTerminal(2))
        var failure: (any Error)?
        await withTaskGroup(of: Void.self) { helpers in
            helpers.addTask { await self.handleSignals() }
            helpers.addTask { await self.tick(progress) }
            do {
                try await withThrowingTaskGroup(of: Void.self) { main in
                    main.addTask { try await self.consumer.run() }
                    main.addTask { try await self.readRecords() }
                    try await main.waitForAll()
                }
            } catch {
                failure = error
            }
            helpers.cancelAll()
        }
        output.flush()
        if let failure {
            progress.finish(summary: nil)
            throw failure
        }
        progress.finish(summary: summary())
        if output.closed { throw CLIError("standard output was closed; stopped") }
    }

    private func summary() -> String {
        let statistics = consumer.statistics
        let reason = stopReason.withLock { $0 } ?? "stopped"
        return "kinesis consume: \(output.written) records written in \(secondsText(since: started)), \(statistics.checkpointsWritten) checkpoints; \(reason)"
    }

    /// The record loop: write, then checkpoint what was written.
    private func readRecords() async throws {
        do {
            for try await envelope in consumer.envelopes {
                guard output.write(envelope) else {
                    // Stopping: records that come now are neither written nor checkpointed.
                    if output.closed { await stop(reason: "standard output closed") }
                    continue
                }
                if let maxRecords, output.written >= maxRecords {
                    await stop(reason: "--max-records \(maxRecords) reached")
                } else if output.sinceCheckpoint >= checkpointEvery {
                    await checkpoint(waitForLock: true)
                }
            }
        } catch {
            consumer.triggerGracefulShutdown()
            throw error
        }
    }

    /// Flushes the output and checkpoints each shard's last written record. The output's lock is
    /// only tried (a write blocked on a slow reader holds it): with `waitForLock`, again every
    /// 10 ms for up to 30 s; otherwise this round is skipped.
    private func checkpoint(stopping: Bool = false, waitForLock: Bool) async {
        var taken = output.tryTakeForCheckpoint(stopping: stopping)
        var attempts = 0
        while taken == nil, waitForLock, attempts < 3000 {
            attempts += 1
            try? await Task.sleep(for: .milliseconds(10))
            taken = output.tryTakeForCheckpoint(stopping: stopping)
        }
        guard let envelopes = taken else { return }
        var failed: [Envelope] = []
        for envelope in envelopes {
            do {
                try await envelope.checkpoint()
            } catch let error as KinesisConsumerError where error.code == .leaseLost || error.code == .checkpointRegression {
                // The shard moved to another instance (it re-delivers from its checkpoint), or a
                // later checkpoint of this shard was already written.
            } catch {
                printError("kinesis: checkpoint of \(envelope.shardID) failed (tried again with the next one): \(error)")
                failed.append(envelope)
            }
        }
        output.checkpointRoundEnded(failed: failed)
    }

    /// Stops once: checkpoints what was written (after any checkpoint round in flight), then shuts
    /// the consumer down gracefully.
    func stop(reason: String) async {
        guard !stopping.exchange(true, ordering: .relaxed) else { return }
        stopReason.withLock { $0 = reason }
        await checkpoint(stopping: true, waitForLock: true)
        for _ in 0..<3000 where output.checkpointRoundsInFlight > 0 { try? await Task.sleep(for: .milliseconds(10)) }
        consumer.triggerGracefulShutdown()
    }

    /// Ctrl-C or SIGTERM: a graceful stop; a second one: exit at once (without waiting for the
    /// output's lock, which a stalled reader may hold).
    private func handleSignals() async {
        await withTaskGroup(of: Void.self) { group in
            var count = 0
            for await signal in await UnixSignalsSequence(trapping: .sigint, .sigterm) {
                count += 1
                if count == 1 {
                    group.addTask { await self.stop(reason: "stopped by \(signal)") }
                } else {
                    printError("\nkinesis: stopped at once by a second \(signal); records after the last checkpoint come again next time")
                    exit(130)
                }
            }
        }
    }

    /// Progress, periodic flush and checkpoints, and the idle stop. Never waits for the output's
    /// lock, so a stalled reader of standard output cannot hold this task too.
    private func tick(_ progress: Progress) async {
        var lastCheckpoint = ContinuousClock.now
        var lastCount = 0
        var lastChange = ContinuousClock.now
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(250))
            let now = ContinuousClock.now
            let statistics = consumer.statistics
            let written = output.written
            if written != lastCount { lastCount = written; lastChange = now }
            progress.update(written: written, lags: statistics.millisBehindLatest, now: now)
            if output.sinceCheckpoint > 0, now - lastCheckpoint >= checkpointInterval {
                lastCheckpoint = now
                await checkpoint(waitForLock: false)
            } else {
                output.tryFlush()
            }
            // Idle: nothing written for that long, at least one shard held, every held shard at the tip.
            if let untilIdle, now - lastChange >= untilIdle, !statistics.millisBehindLatest.isEmpty,
               statistics.millisBehindLatest.values.allSatisfy({ $0 == 0 }) {
                await stop(reason: "idle for \(untilIdle)")
            }
        }
    }
}

/// Records written to standard output (raw or JSON lines), and each shard's last written envelope
/// waiting for its checkpoint. One lock guards both, so a record is either written and counted
/// for its checkpoint, or (once stopping) neither. The record loop writes under the lock (a slow
/// reader slows the loop, and so reading); other tasks only try the lock.
final class RecordOutput: Sendable {
    private struct State {
        var buffer: [UInt8] = []
        var pending: [String: Envelope] = [:]
        var stopping = false
    }

    let format: Consume.OutputFormat
    let flushEachRecord: Bool
    private let state = Mutex(State())
    private let writtenCount = Atomic<Int>(0)
    private let sinceCheckpointCount = Atomic<Int>(0)
    /// Set (under the lock) when a write to standard output failed.
    private let closedFlag = Atomic<Bool>(false)
    private let roundsInFlight = Atomic<Int>(0)
    private static let flushSize = 64 * 1024

    init(format: Consume.OutputFormat, flushEachRecord: Bool) {
        self.format = format
        self.flushEachRecord = flushEachRecord
    }

    var written: Int { writtenCount.load(ordering: .relaxed) }
    var sinceCheckpoint: Int { sinceCheckpointCount.load(ordering: .relaxed) }
    var closed: Bool { closedFlag.load(ordering: .relaxed) }
    var checkpointRoundsInFlight: Int { roundsInFlight.load(ordering: .relaxed) }

    /// Buffers the record's line; `false` when stopping (the record is dropped, not checkpointed).
    func write(_ envelope: Envelope) -> Bool {
        state.withLock { state in
            guard !state.stopping, !closed else { return false }
            switch format {
            case .raw:
                state.buffer.append(contentsOf: envelope.data)
                state.buffer.append(UInt8(ascii: "\n"))
            case .jsonl:
                Self.appendJSON(envelope, to: &state.buffer)
            }
            state.pending[envelope.shardID] = envelope
            sinceCheckpointCount.add(1, ordering: .relaxed)
            writtenCount.add(1, ordering: .relaxed)
            if flushEachRecord || state.buffer.count >= Self.flushSize { flush(&state) }
            return true
        }
    }

    /// Writes out what is buffered (waiting for the lock: for the end of the run).
    func flush() {
        state.withLock { flush(&$0) }
    }

    /// Writes out what is buffered, unless the lock is busy.
    func tryFlush() {
        _ = state.withLockIfAvailable { flush(&$0) }
    }

    /// Writes out what is buffered and hands over each shard's last written envelope for its
    /// checkpoint (a round, to be ended with ``checkpointRoundEnded(failed:)``); with `stopping`,
    /// later records are dropped. After a failed write nothing is handed over (what was buffered
    /// may not have reached the reader). `nil` when the lock is busy.
    func tryTakeForCheckpoint(stopping: Bool) -> [Envelope]? {
        state.withLockIfAvailable { state -> [Envelope] in
            if stopping { state.stopping = true }
            flush(&state)
            defer { state.pending = [:]; sinceCheckpointCount.store(0, ordering: .relaxed) }
            roundsInFlight.add(1, ordering: .relaxed)
            return closed ? [] : Array(state.pending.values)
        }
    }

    /// A checkpoint round is over; envelopes whose checkpoint failed are kept for the next round
    /// unless a later one of their shard is waiting already.
    func checkpointRoundEnded(failed: [Envelope]) {
        state.withLock { state in
            for envelope in failed where state.pending[envelope.shardID] == nil {
                state.pending[envelope.shardID] = envelope
                sinceCheckpointCount.add(1, ordering: .relaxed)
            }
        }
        roundsInFlight.subtract(1, ordering: .relaxed)
    }

    private func flush(_ state: inout State) {
        guard !state.buffer.isEmpty, !closed else { return }
        let ok = state.buffer.withUnsafeBufferPointer { FileDescriptor.writeAll(1, $0) }
        state.buffer.removeAll(keepingCapacity: true)
        if !ok { closedFlag.store(true, ordering: .relaxed) }
    }

    private static let timestampStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// `{"shardId":…,"sequenceNumber":…,"subSequenceNumber":…,"partitionKey":…,"explicitHashKey":…,"approximateArrivalTimestamp":…,"data":…}`
    static func appendJSON(_ envelope: Envelope, to buffer: inout [UInt8]) {
        func string(_ text: String) {
            buffer.append(UInt8(ascii: "\""))
            for byte in text.utf8 {
                switch byte {
                case UInt8(ascii: "\""): buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
                case UInt8(ascii: "\\"): buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case UInt8(ascii: "\n"): buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case UInt8(ascii: "\r"): buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                case UInt8(ascii: "\t"): buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                case 0..<0x20:
                    let hex = Array("0123456789abcdef".utf8)
                    buffer.append(contentsOf: Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
                default: buffer.append(byte)
                }
            }
            buffer.append(UInt8(ascii: "\""))
        }
        func raw(_ text: String) { buffer.append(contentsOf: text.utf8) }
        raw("{\"shardId\":"); string(envelope.shardID)
        raw(",\"sequenceNumber\":"); string(envelope.sequenceNumber.rawValue)
        raw(",\"subSequenceNumber\":"); raw(String(envelope.subSequenceNumber))
        raw(",\"partitionKey\":"); string(envelope.partitionKey)
        raw(",\"explicitHashKey\":")
        if let key = envelope.explicitHashKey { string(String(key)) } else { raw("null") }
        raw(",\"approximateArrivalTimestamp\":")
        if let time = envelope.approximateArrivalTimestamp { string(timestampStyle.format(time)) } else { raw("null") }
        raw(",\"data\":\""); Base64.encode(envelope.data, appendingTo: &buffer); raw("\"")
        raw("}\n")
    }
}

/// The progress report on standard error: a live line on a terminal, a plain line every 5
/// seconds otherwise.
final class Progress: Sendable {
    let terminal: Bool
    private struct State {
        var lastReport: ContinuousClock.Instant = .now
        var lastWritten = 0
        var rate = 0.0
        var drawn = false
    }
    private let state = Mutex(State())

    init(terminal: Bool) { self.terminal = terminal }

    func update(written: Int, lags: [String: Int64], now: ContinuousClock.Instant) {
        let line: String? = state.withLock { state in
            let elapsed = now - state.lastReport
            let interval: Duration = terminal ? .milliseconds(250) : .seconds(5)
            guard elapsed >= interval else { return nil }
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            state.rate = Double(written - state.lastWritten) / max(seconds, 0.001)
            state.lastWritten = written
            state.lastReport = now
            state.drawn = terminal
            let shards = lags.sorted { $0.key < $1.key }.map { "\(Self.short($0.key)) \($0.value) ms" }.joined(separator: ", ")
            let text = "\(written) records, \(Int(state.rate.rounded())) records/s, \(lags.count) shards held\(shards.isEmpty ? "" : "; lag: \(shards)")"
            return terminal ? "\r\u{1B}[K" + String(text.prefix(200)) : "kinesis consume: " + text + "\n"
        }
        if let line { StandardError.write(line) }
    }

    /// Clears the live line and prints `summary`, if any.
    func finish(summary: String?) {
        let drawn = state.withLock { $0.drawn }
        let text = (drawn ? "\r\u{1B}[K" : "") + (summary.map { $0 + "\n" } ?? "")
        if !text.isEmpty { StandardError.write(text) }
    }

    /// `shardId-000000000012` as `#12`.
    static func short(_ shardID: String) -> String {
        guard shardID.hasPrefix("shardId-"), let number = Int(shardID.dropFirst("shardId-".count)) else { return shardID }
        return "#\(number)"
    }
}
