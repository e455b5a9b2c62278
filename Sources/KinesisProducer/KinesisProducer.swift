@_spi(Runtime) import AWSCore
import DequeModule
public import KinesisAPI
import Logging
public import ServiceLifecycle
import Synchronization

/// Writes records to one Kinesis stream: batched into `PutRecords` calls, optionally packed into
/// KPL aggregated records, retried entry by entry until a deadline, in order per partition key,
/// with a bounded buffer.
///
/// ```swift
/// let producer = KinesisProducer(stream: "orders", configuration: config)
/// // run it: in a ServiceGroup, or `try await producer.run()` in a task of your own; then from
/// // any number of tasks:
/// let receipt = try await producer.send(data, partitionKey: "customer-42")   // shard ID + sequence number
/// try await producer.submit(data, partitionKey: "customer-42")              // fire and forget
/// try await producer.flush()                                                // everything so far written
/// ```
///
/// ``run()`` does the work: it sends a call when a batch is full (500 records or 5 MiB), when the
/// oldest record has lingered ``Configuration/linger``, or at a ``flush()``; keeps up to
/// ``Configuration/maxRequestsInFlight`` calls in flight; sends failed entries again with backoff
/// and jitter until each record's ``Configuration/recordTTL``; pauses a shard that throttles. A
/// graceful shutdown (the service group's, or ``triggerGracefulShutdown()``) takes no new records,
/// sends everything held without lingering (retries after their backoff), and returns once every
/// record is written or failed.
///
/// - Important: No record is lost without an error: a `send` returns its ``Receipt`` or throws
///   ``KinesisProducerError``; a record given to `submit` that cannot be written is logged,
///   counted, passed to ``Configuration/onUndeliverable`` and reported by the next ``flush()``.
///   Delivery is at least once: a call that timed out may have been written and is sent again.
public final class KinesisProducer: Service, Sendable {
    /// The largest record Kinesis takes: data and partition key, 1 MiB.
    public static let maxRecordBytes = 1_048_576
    /// The most bytes a partition key can have (256 characters of up to 4 UTF-8 bytes).
    public static let maxPartitionKeyBytes = 1024

    /// The stream (by name, or by ARN when `stream` began with `arn:`).
    public let stream: StreamIdentifier
    public let configuration: Configuration

    private enum Source: Sendable {
        case configured
        case client(KinesisClient)
    }
    private enum Phase {
        case idle, running, stopped
    }
    private enum Waiter {
        case receipt(CheckedContinuation<Receipt, any Error>)
        case admission(CheckedContinuation<Void, any Error>)
    }
    private struct RecordInput {
        var partitionKey: String
        var explicitHashKey: UInt128?
        var data: [UInt8]
        /// What the buffer bound counts.
        var size: Int { data.count + partitionKey.utf8.count }
    }
    private struct RoomWaiter {
        var token: UInt64
        var record: RecordInput
        var waiter: Waiter
    }
    private struct State {
        var machine: ProducerStateMachine
        var phase = Phase.idle
        var nextToken: UInt64 = 0
        var roomWaiters = Deque<RoomWaiter>()
        /// `send`s waiting for their record's outcome, by record ID.
        var receiptWaiters: [UInt64: (token: UInt64, continuation: CheckedContinuation<Receipt, any Error>)] = [:]
        /// `send`s and `submit`s by waiter token, while they wait for room (0) or for their receipt
        /// (the record's ID).
        var tokens: [UInt64: UInt64] = [:]
        var flushWaiters: [(token: UInt64, epoch: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
        /// Records of `submit` that failed and no flush has reported yet.
        var unreportedFailures = 0
        var lastUnreportedFailure: KinesisProducerError?
        var refreshingShardMap = false
    }

    private let source: Source
    private let state: Mutex<State>
    private let wakeup = Wakeup()
    private let statisticsStore: ProducerStatistics
    private let logger: Logger

    /// A producer that creates its Kinesis client from ``Configuration/aws`` when it runs.
    public convenience init(stream: String, configuration: Configuration = Configuration()) {
        self.init(stream: stream, source: .configured, configuration: configuration)
    }

    /// A producer that writes through the given client (for instance `SimulatedKinesis().client()`
    /// from `KinesisTestKit`).
    public convenience init(stream: String, kinesis: KinesisClient, configuration: Configuration = Configuration()) {
        self.init(stream: stream, source: .client(kinesis), configuration: configuration)
    }

    private init(stream: String, source: Source, configuration: Configuration) {
        self.stream = stream.hasPrefix("arn:") ? .arn(stream) : .name(stream)
        self.configuration = configuration
        self.source = source
        self.state = Mutex(State(machine: ProducerStateMachine(settings: .init(configuration))))
        self.statisticsStore = ProducerStatistics(stream: stream)
        var logger = configuration.logger
        logger[metadataKey: "kinesis.stream"] = "\(stream)"
        self.logger = logger
    }

    // MARK: Sending

    /// Writes one record and returns where it landed, once it is written.
    ///
    /// Waits for room first when the buffer is full (``Configuration/Backpressure``). Records given
    /// before `run()` starts wait for it.
    ///
    /// - Parameters:
    ///   - data: The record's data; with the partition key at most 1 MiB.
    ///   - partitionKey: 1 to 256 characters; routes the record (its MD5) and, with
    ///     ``Configuration/ordering`` `.perPartitionKey`, orders it.
    ///   - explicitHashKey: Routes the record by this hash key instead of the partition key's MD5.
    /// - Throws: ``KinesisProducerError``: ``KinesisProducerError/Code/invalidRecord`` at once for
    ///   bad input (nothing else is affected); ``KinesisProducerError/Code/recordExpired`` or
    ///   ``KinesisProducerError/Code/recordFailed`` with the last AWS error when it could not be
    ///   written; ``KinesisProducerError/Code/shutDown`` when the producer stopped first.
    ///   `CancellationError` when the task is cancelled (a record already taken may still be
    ///   written; a failure is then reported as for `submit`).
    public func send(_ data: some Sequence<UInt8>, partitionKey: String, explicitHashKey: UInt128? = nil) async throws -> Receipt {
        let data = Array(data)
        try Self.validate(data: data, partitionKey: partitionKey)
        return try await wait(for: RecordInput(partitionKey: partitionKey, explicitHashKey: explicitHashKey, data: data), as: Waiter.receipt)
    }

    /// Gives one record to the producer without waiting for it to be written: returns once it is
    /// held (at once, unless the buffer is full: then it waits for room).
    ///
    /// A record that cannot be written is logged, counted in ``statistics``, passed to
    /// ``Configuration/onUndeliverable``, and makes the next ``flush()`` throw.
    ///
    /// - Throws: ``KinesisProducerError`` with ``KinesisProducerError/Code/invalidRecord`` (bad
    ///   input) or ``KinesisProducerError/Code/shutDown``; `CancellationError` while it waits for room.
    public func submit(_ data: some Sequence<UInt8>, partitionKey: String, explicitHashKey: UInt128? = nil) async throws {
        let data = Array(data)
        try Self.validate(data: data, partitionKey: partitionKey)
        if try admitIfRoom(data: data, partitionKey: partitionKey, explicitHashKey: explicitHashKey) { return }
        try await wait(for: RecordInput(partitionKey: partitionKey, explicitHashKey: explicitHashKey, data: data), as: Waiter.admission)
    }

    /// ``submit(_:partitionKey:explicitHashKey:)`` without waiting: gives the record to the producer
    /// if the buffer has room, and throws ``KinesisProducerError/Code/bufferFull`` if not.
    ///
    /// - Throws: ``KinesisProducerError`` with ``KinesisProducerError/Code/bufferFull``,
    ///   ``KinesisProducerError/Code/invalidRecord`` or ``KinesisProducerError/Code/shutDown``.
    public func trySubmit(_ data: some Sequence<UInt8>, partitionKey: String, explicitHashKey: UInt128? = nil) throws {
        let data = Array(data)
        try Self.validate(data: data, partitionKey: partitionKey)
        guard try admitIfRoom(data: data, partitionKey: partitionKey, explicitHashKey: explicitHashKey) else {
            let limits = configuration.backpressure
            throw KinesisProducerError(code: .bufferFull, message: "the producer holds its most records or bytes (backpressure.maxRecords \(limits.maxRecords), maxBytes \(limits.maxBytes)); wait (submit) or try again later")
        }
    }

    /// Waits until every record given to the producer before this call is written or failed.
    /// Those records go out at once, without lingering.
    ///
    /// - Throws: ``KinesisProducerError`` with ``KinesisProducerError/Code/undeliveredRecords`` when
    ///   records given to `submit` failed since the last flush (their count, and the last error as
    ///   ``KinesisProducerError/underlying``). Failures of `send` are thrown by that `send` only.
    ///   `CancellationError` when the task is cancelled (the records still go out).
    public func flush() async throws {
        let token = newToken()
        let epoch = state.withLock { $0.machine.requestFlush() }
        wakeup.signal()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let done = state.withLock { state in
                    if state.machine.isFlushed(through: epoch) || Task.isCancelled { return true }
                    state.flushWaiters.append((token, epoch, continuation))
                    return false
                }
                if done { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard let index = state.flushWaiters.firstIndex(where: { $0.token == token }) else { return nil }
                return state.flushWaiters.remove(at: index).continuation
            }
            waiter?.resume()
        }
        try Task.checkCancellation()
        let (count, last) = state.withLock { state in
            defer {
                state.unreportedFailures = 0
                state.lastUnreportedFailure = nil
            }
            return (state.unreportedFailures, state.lastUnreportedFailure)
        }
        if count > 0 {
            throw KinesisProducerError(
                code: .undeliveredRecords,
                message: "\(count) submitted record\(count == 1 ? " was" : "s were") not written; the last one: \(last.map { "\($0)" } ?? "-")",
                underlying: last?.underlying, failedRecords: count
            )
        }
    }

    /// Stops the producer gracefully (what a service group's graceful shutdown does): new records
    /// (and senders still waiting for room) are refused, everything held is sent without lingering
    /// (retries still wait out their backoff), and ``run()`` returns when all are written or failed.
    public func triggerGracefulShutdown() {
        let refused = state.withLock { state -> [RoomWaiter] in
            state.machine.beginShutdown()
            defer { state.roomWaiters.removeAll() }
            for waiter in state.roomWaiters { state.tokens[waiter.token] = nil }
            return Array(state.roomWaiters)
        }
        for waiter in refused { resume(waiter.waiter, throwing: Self.shutDownError) }
        wakeup.signal()
    }

    /// Counters and buffer levels.
    public var statistics: Statistics {
        state.withLock { statisticsStore.snapshot(machine: $0.machine) }
    }

    private static let shutDownError = KinesisProducerError(code: .shutDown, message: "the producer is shutting down or has stopped; the record was not taken")

    /// Refuses what Kinesis would refuse, before it can affect anything else.
    static func validate(data: [UInt8], partitionKey: String) throws {
        let characters = partitionKey.unicodeScalars.count
        guard (1...256).contains(characters) else {
            throw KinesisProducerError(code: .invalidRecord, message: characters == 0 ? "the partition key is empty; accepted: 1 to 256 characters" : "the partition key has \(characters) characters; accepted: 1 to 256")
        }
        let size = data.count + partitionKey.utf8.count
        guard size <= maxRecordBytes else {
            throw KinesisProducerError(code: .invalidRecord, message: "the record has \(size) bytes with its partition key; accepted: at most \(maxRecordBytes) (1 MiB)")
        }
    }

    /// Takes the record if nobody waits for room and there is room; throws if the producer no
    /// longer takes records.
    private func admitIfRoom(data: [UInt8], partitionKey: String, explicitHashKey: UInt128?) throws -> Bool {
        let outcome = state.withLock { state -> Bool? in
            guard state.phase != .stopped, !state.machine.isShuttingDown else { return nil }
            guard state.roomWaiters.isEmpty, state.machine.hasRoom(forBytes: data.count + partitionKey.utf8.count) else { return false }
            let (_, wake) = state.machine.admit(partitionKey: partitionKey, explicitHashKey: explicitHashKey, data: data, now: .now)
            if wake { wakeup.signal() }
            return true
        }
        guard let outcome else { throw Self.shutDownError }
        return outcome
    }

    /// A token naming one waiting caller, for its cancellation handler.
    private func newToken() -> UInt64 {
        state.withLock { state in
            state.nextToken += 1
            return state.nextToken
        }
    }

    /// Gives the record to ``take(_:)`` with a continuation of the waiter's kind, and withdraws it
    /// if the task is cancelled.
    private func wait<T>(for input: RecordInput, as waiter: @escaping (CheckedContinuation<T, any Error>) -> Waiter) async throws -> T {
        let token = newToken()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                take(RoomWaiter(token: token, record: input, waiter: waiter(continuation)))
            }
        } onCancel: {
            abandon(token)
        }
    }

    /// Takes the record now if there is room, or queues it (in order) until there is.
    private func take(_ waiter: RoomWaiter) {
        let refused = state.withLock { state -> (any Error)? in
            // Checked under the lock: a cancellation after this finds the token in `abandon`.
            if Task.isCancelled { return CancellationError() }
            guard state.phase != .stopped, !state.machine.isShuttingDown else { return Self.shutDownError }
            if state.roomWaiters.isEmpty, state.machine.hasRoom(forBytes: waiter.record.size) {
                admit(waiter, into: &state)
            } else {
                state.tokens[waiter.token] = 0
                state.roomWaiters.append(waiter)
            }
            return nil
        }
        if let refused { resume(waiter.waiter, throwing: refused) }
    }

    /// Admits a waiting sender's record (under the lock); resumes a `submit` at once.
    private func admit(_ waiter: RoomWaiter, into state: inout State) {
        let (id, wake) = state.machine.admit(partitionKey: waiter.record.partitionKey, explicitHashKey: waiter.record.explicitHashKey, data: waiter.record.data, now: .now)
        if wake { wakeup.signal() }
        switch waiter.waiter {
        case .receipt(let continuation):
            state.receiptWaiters[id] = (waiter.token, continuation)
            state.tokens[waiter.token] = id
        case .admission(let continuation):
            state.tokens[waiter.token] = nil
            continuation.resume()
        }
    }

    /// A cancelled sender: stops waiting for room (the record is not taken) or for its receipt
    /// (the record may still be written).
    private func abandon(_ token: UInt64) {
        let waiter = state.withLock { state -> Waiter? in
            guard let id = state.tokens.removeValue(forKey: token) else { return nil }
            if id == 0 {
                guard let index = state.roomWaiters.firstIndex(where: { $0.token == token }) else { return nil }
                return state.roomWaiters.remove(at: index).waiter
            }
            return state.receiptWaiters.removeValue(forKey: id).map { .receipt($0.continuation) }
        }
        if let waiter { resume(waiter, throwing: CancellationError()) }
    }

    private func resume(_ waiter: Waiter, throwing error: any Error) {
        switch waiter {
        case .receipt(let continuation): continuation.resume(throwing: error)
        case .admission(let continuation): continuation.resume(throwing: error)
        }
    }

    // MARK: Running

    /// Runs the producer until a graceful shutdown has written (or failed) everything held, or the
    /// task is cancelled (then calls in flight are cancelled and every record held fails with
    /// ``KinesisProducerError/Code/shutDown``).
    ///
    /// - Throws: ``KinesisProducerError`` with ``KinesisProducerError/Code/invalidConfiguration``
    ///   for a bad configuration, or when `run()` is called twice.
    public func run() async throws {
        let started = state.withLock { state in
            guard state.phase == .idle else { return false }
            state.phase = .running
            return true
        }
        guard started else {
            throw KinesisProducerError(code: .invalidConfiguration, message: "run() was called twice; a producer runs once")
        }
        do {
            try configuration.validate()
            let kinesis: KinesisClient
            switch source {
            case .configured: kinesis = try await KinesisClient(configuration: configuration.aws, logger: logger)
            case .client(let client): kinesis = client
            }
            await withGracefulShutdownHandler {
                await withDiscardingTaskGroup { group in
                    await dispatch(kinesis: kinesis, group: &group)
                }
            } onGracefulShutdown: {
                self.triggerGracefulShutdown()
            }
        } catch {
            stop()
            throw error
        }
        stop()
    }

    /// The sender: forms batches when they are due and sends each in a child task; fails what
    /// expires; reads the shard map when asked; returns when shut down and drained, or cancelled.
    private func dispatch(kinesis: KinesisClient, group: inout DiscardingTaskGroup) async {
        while !Task.isCancelled {
            let now = ContinuousClock.now
            var batches: [ProducerStateMachine.Batch] = []
            let (expired, refresh, done, wakeAt) = state.withLock { state in
                let expired = state.machine.expire(now: now)
                while let batch = state.machine.nextBatch(now: now) { batches.append(batch) }
                var refresh = false
                if state.machine.wantsShardMap(now: now), !state.refreshingShardMap {
                    state.refreshingShardMap = true
                    refresh = true
                }
                let done = state.machine.isShuttingDown && state.machine.isDrained
                return (expired, refresh, done, state.machine.nextWakeup(now: now))
            }
            if !expired.failed.isEmpty { finish(expired) }
            for batch in batches {
                statisticsStore.callMade(entries: batch.entries.count, bytes: batch.bytes)
                group.addTask {
                    let outcome: ProducerStateMachine.Outcome
                    do {
                        outcome = .results(try await kinesis.putRecords(self.stream, entries: batch.entries.map(\.request)).results)
                    } catch {
                        outcome = .failed(error)
                    }
                    self.completed(batch, outcome: outcome)
                }
            }
            if refresh {
                group.addTask { await self.readShardMap(kinesis) }
            }
            if done { return }
            if let wakeAt {
                await wakeup.wait(atMost: wakeAt - .now)
            } else {
                await wakeup.wait()
            }
        }
    }

    private func completed(_ batch: ProducerStateMachine.Batch, outcome: ProducerStateMachine.Outcome) {
        let completion = state.withLock { $0.machine.complete(batch, outcome: outcome, now: .now) }
        logger.debug("PutRecords answered", metadata: [
            "kinesis.batch_id": "\(batch.id)", "kinesis.entries": "\(batch.entries.count)", "kinesis.records": "\(batch.userRecords)",
            "kinesis.bytes": "\(batch.bytes)", "kinesis.written": "\(completion.delivered.count)", "kinesis.retried": "\(completion.retried)",
            "kinesis.failed": "\(completion.failed.count)",
        ])
        finish(completion)
        wakeup.signal()
    }

    private func readShardMap(_ kinesis: KinesisClient) async {
        do {
            let shards = try await kinesis.listShards(stream)
            statisticsStore.shardMapRead()
            let completion = state.withLock { state in
                state.refreshingShardMap = false
                return state.machine.installShardMap(ShardMap(shards: shards), now: .now)
            }
            logger.debug("Shard map read", metadata: ["kinesis.shards": "\(shards.count)"])
            finish(completion)
        } catch {
            logger.info("Shard map could not be read; records go out without shard prediction", metadata: ["error": "\(error)"])
            let completion = state.withLock { state in
                state.refreshingShardMap = false
                return state.machine.shardMapUnavailable(now: .now)
            }
            finish(completion)
        }
        wakeup.signal()
    }

    /// Resumes senders and reports failures for what a completion (or expiry) decided, then lets
    /// waiting senders in and wakes finished flushes.
    private func finish(_ completion: ProducerStateMachine.Completion) {
        var receipts: [(CheckedContinuation<Receipt, any Error>, Receipt)] = []
        var errors: [(CheckedContinuation<Receipt, any Error>, KinesisProducerError)] = []
        var undeliverable: [(ProducerStateMachine.Record, KinesisProducerError)] = []
        let (flushes, buffered) = state.withLock { state in
            for (record, receipt) in completion.delivered {
                if let waiter = state.receiptWaiters.removeValue(forKey: record.id) {
                    state.tokens[waiter.token] = nil
                    receipts.append((waiter.continuation, receipt))
                }
            }
            for (record, error) in completion.failed {
                if let waiter = state.receiptWaiters.removeValue(forKey: record.id) {
                    state.tokens[waiter.token] = nil
                    errors.append((waiter.continuation, error))
                } else {
                    undeliverable.append((record, error))
                    state.unreportedFailures += 1
                    state.lastUnreportedFailure = error
                }
            }
            admitWaiters(&state)
            return (takeFinishedFlushes(&state), (state.machine.bufferedRecords, state.machine.bufferedBytes))
        }
        statisticsStore.recordCompletion(completion, bufferedRecords: buffered.0, bufferedBytes: buffered.1)
        for (continuation, receipt) in receipts { continuation.resume(returning: receipt) }
        for (continuation, error) in errors { continuation.resume(throwing: error) }
        if let (record, error) = undeliverable.last {
            // One line per call's worth of failures, not one per record.
            logger.error("Submitted records not written", metadata: [
                "kinesis.records": "\(undeliverable.count)", "kinesis.partition_key": "\(record.partitionKey)", "error": "\(error)",
            ])
        }
        for (record, error) in undeliverable {
            configuration.onUndeliverable?(UndeliverableRecord(partitionKey: record.partitionKey, explicitHashKey: record.explicitHashKey, data: record.data, error: error))
        }
        for continuation in flushes { continuation.resume() }
    }

    private func admitWaiters(_ state: inout State) {
        while let first = state.roomWaiters.first, !state.machine.isShuttingDown,
            state.machine.hasRoom(forBytes: first.record.size) {
            admit(state.roomWaiters.removeFirst(), into: &state)
        }
    }

    private func takeFinishedFlushes(_ state: inout State) -> [CheckedContinuation<Void, Never>] {
        var finished: [CheckedContinuation<Void, Never>] = []
        state.flushWaiters.removeAll { waiter in
            guard state.machine.isFlushed(through: waiter.epoch) else { return false }
            finished.append(waiter.continuation)
            return true
        }
        return finished
    }

    /// The producer stopped: everything still held fails, waiting senders are refused.
    private func stop() {
        let (records, roomWaiters) = state.withLock { state in
            state.phase = .stopped
            state.machine.beginShutdown()
            let waiters = Array(state.roomWaiters)
            for waiter in waiters { state.tokens[waiter.token] = nil }
            state.roomWaiters.removeAll()
            return (state.machine.removeAll(), waiters)
        }
        for waiter in roomWaiters { resume(waiter.waiter, throwing: Self.shutDownError) }
        var completion = ProducerStateMachine.Completion()
        completion.failed = records.map { ($0, KinesisProducerError(code: .shutDown, message: "the producer stopped before the record was written", underlying: $0.lastError, attempts: $0.attempts)) }
        finish(completion)
    }
}
