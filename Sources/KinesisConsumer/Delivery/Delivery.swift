import Synchronization

/// Where shard consumers put what they fetched: one merged queue (``KinesisConsumer/envelopes``)
/// or one queue per shard session (``KinesisConsumer/shards``), whichever the user iterates first.
/// Until then, shard consumers wait with their first batch (nothing more is fetched).
final class Delivery: Sendable {
    enum Mode { case undecided, merged, sessions }

    private struct State {
        var mode = Mode.undecided
        var modeWaiters: [CheckedContinuation<Void, Never>] = []
        var sessionQueues: [BatchQueue] = []
        /// Readers (the merged iterator, or one per session) that have not yet ended.
        var readers = 0
        var readersWaiters: [CheckedContinuation<Void, Never>] = []
    }

    let budget: BufferBudget
    let checkpointing: KinesisConsumer.Checkpointing
    let merged = BatchQueue()
    let sessions = HandoffQueue<ShardSession>()
    private let state = Mutex(State())
    /// Set at shutdown: every iterator ends at its next call.
    let shuttingDown = Atomic<Bool>(false)
    let statistics: ConsumerStatistics

    init(budget: BufferBudget, checkpointing: KinesisConsumer.Checkpointing, statistics: ConsumerStatistics) {
        self.budget = budget
        self.checkpointing = checkpointing
        self.statistics = statistics
    }

    /// The user iterates the merged sequence.
    func claimMerged() throws -> BatchQueue {
        try claim(.merged)
        return merged
    }

    /// The user iterates the shard sessions.
    func claimSessions() throws {
        try claim(.sessions)
    }

    private func claim(_ mode: Mode) throws {
        let waiters = try state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard state.mode == .undecided else {
                throw KinesisConsumerError(
                    code: .deliveryConflict,
                    message: "the consumer's records were already claimed by an iterator of `\(state.mode == .merged ? "envelopes" : "shards")`; iterate one of `envelopes` or `shards`, once"
                )
            }
            state.mode = mode
            if mode == .merged { state.readers += 1 }
            defer { state.modeWaiters = [] }
            return state.modeWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    private func awaitMode() async -> Mode {
        if let mode = state.withLock({ $0.mode == .undecided ? nil : $0.mode }) { return mode }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let decided = state.withLock { state in
                if state.mode != .undecided { return true }
                state.modeWaiters.append(continuation)
                return false
            }
            if decided { continuation.resume() }
        }
        return state.withLock { $0.mode }
    }

    /// The queue a shard consumer delivers to, once the user has started reading; for sessions,
    /// a new session is handed out. `nil` at shutdown.
    func sink(for shard: ShardConsumerActor) async -> BatchQueue? {
        let mode = await awaitMode()
        guard !shuttingDown.load(ordering: .relaxed) else { return nil }
        switch mode {
        case .merged:
            return merged
        case .sessions:
            let queue = BatchQueue()
            state.withLock { state in
                state.sessionQueues.append(queue)
                state.readers += 1
            }
            guard sessions.push(ShardSession(shardID: shard.shardID, queue: queue, delivery: self)) else {
                readerEnded()
                return nil
            }
            return queue
        case .undecided:
            preconditionFailure("the mode is decided")
        }
    }

    /// A shard's batches end (shard end, lost lease): its session's reader sees what is queued,
    /// then the end. The merged queue goes on.
    func shardEnded(_ queue: BatchQueue) {
        guard queue !== merged else { return }
        queue.finish()
        state.withLock { $0.sessionQueues.removeAll { $0 === queue } }
    }

    /// A reader has ended (its iterator returned `nil`).
    func readerEnded() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.readers -= 1
            guard state.readers <= 0 else { return [] }
            defer { state.readersWaiters = [] }
            return state.readersWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Shutdown begins: iterators end at their next call; shard consumers waiting for a reader
    /// are let go.
    func beginShutdown() {
        shuttingDown.store(true, ordering: .relaxed)
        let (queues, waiters) = state.withLock { state in
            defer { state.modeWaiters = []; state.sessionQueues = [] }
            return (state.sessionQueues, state.modeWaiters)
        }
        for waiter in waiters { waiter.resume() }
        merged.finish()
        sessions.finish()
        for queue in queues { queue.finish() }
        // Queued batches were not handed out: they go back to the budget (their records come
        // again from the checkpoint).
        for queue in queues + [merged] {
            for batch in queue.drain() { budget.release(records: batch.envelopes.count, bytes: batch.bytes) }
        }
    }

    /// Waits until every reader has ended, or `timeout` passes.
    func awaitReaders(timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let done = self.state.withLock { state in
                        if state.readers <= 0 { return true }
                        state.readersWaiters.append(continuation)
                        return false
                    }
                    if done { continuation.resume() }
                }
            }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
            // The readers' wait cannot be cancelled; let it go if it is still pending.
            let waiters = self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
                defer { state.readersWaiters = [] }
                return state.readersWaiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }
}

/// Reads envelopes batch by batch for one iterator: hands them out one at a time, tells each
/// shard consumer when the user has moved past a batch (so it may fetch again), skips batches of
/// shards whose lease was lost, and checkpoints automatically when configured. An iterator dropped
/// without reaching the end (a loop left with `break`) ends its reader too.
final class EnvelopeReader {
    let queue: BatchQueue
    let delivery: Delivery
    private var current: Batch?
    private var envelopes: [Envelope] = []
    private var index = 0
    private var ended = false
    // Automatic checkpointing.
    private let everyRecords: Int?
    private let everyInterval: Duration?
    private var sinceCheckpoint = 0
    private var lastCheckpoint = ContinuousClock.now
    /// For each shard, the last envelope moved past and not yet checkpointed.
    private var pending: [ObjectIdentifier: Envelope] = [:]

    init(queue: BatchQueue, delivery: Delivery) {
        self.queue = queue
        self.delivery = delivery
        if case .every(let records, let interval) = delivery.checkpointing.mode {
            everyRecords = records
            everyInterval = interval
        } else {
            everyRecords = nil
            everyInterval = nil
        }
    }

    deinit {
        guard !ended else { return }
        if let batch = current { delivery.budget.release(records: batch.envelopes.count, bytes: batch.bytes) }
        delivery.readerEnded()
    }

    func next() async throws -> Envelope? {
        guard !ended else { return nil }
        if delivery.shuttingDown.load(ordering: .relaxed) {
            await end()
            return nil
        }
        if index < envelopes.count {
            if everyRecords != nil || everyInterval != nil, index > 0 {
                sinceCheckpoint += 1
                if dueForCheckpoint() {
                    pending[ObjectIdentifier(envelopes[index - 1].shard)] = envelopes[index - 1]
                    await checkpointPending()
                }
            }
            defer { index += 1 }
            return envelopes[index]
        }
        await movedPastBatch()
        while true {
            guard let batch = await queue.next() else {
                await end()
                return nil
            }
            if batch.shard.isLeaseLost {
                // Not handed out: the new owner delivers these records.
                delivery.budget.release(records: batch.envelopes.count, bytes: batch.bytes)
                continue
            }
            current = batch
            envelopes = batch.envelopes
            index = 1
            return envelopes[0]
        }
    }

    private func dueForCheckpoint() -> Bool {
        if let everyRecords, sinceCheckpoint >= everyRecords { return true }
        if let everyInterval, ContinuousClock.now - lastCheckpoint >= everyInterval { return true }
        return false
    }

    /// The user asked for the record after the current batch: the whole batch was moved past.
    private func movedPastBatch() async {
        guard let batch = current else { return }
        current = nil
        envelopes = []
        index = 0
        delivery.budget.release(records: batch.envelopes.count, bytes: batch.bytes)
        delivery.statistics.delivered(records: batch.envelopes.count)
        await batch.shard.consumed(records: batch.envelopes.count, bytes: batch.bytes)
        if everyRecords != nil || everyInterval != nil, let last = batch.envelopes.last {
            sinceCheckpoint += 1
            pending[ObjectIdentifier(batch.shard)] = last
            if dueForCheckpoint() { await checkpointPending() }
        }
    }

    private func checkpointPending() async {
        let envelopes = pending.values
        pending = [:]
        sinceCheckpoint = 0
        lastCheckpoint = .now
        for envelope in envelopes {
            // A lost lease or a checkpoint already past this one is not the user's problem here:
            // the shard's own sequence ends, and what was not checkpointed comes again.
            try? await envelope.checkpoint()
        }
    }

    /// The iterator ends: at shutdown, what the user moved past is checkpointed (when automatic
    /// checkpointing is on) before the reader counts as finished.
    private func end() async {
        guard !ended else { return }
        ended = true
        if everyRecords != nil || everyInterval != nil {
            if index > 0, index <= envelopes.count, let current {
                // Envelopes before `index - 1` were moved past; the one at `index - 1` is the one the
                // user had when it asked for more, so it is done too.
                pending[ObjectIdentifier(current.shard)] = envelopes[index - 1]
            }
            await checkpointPending()
        }
        if let batch = current {
            current = nil
            delivery.budget.release(records: batch.envelopes.count, bytes: batch.bytes)
        }
        delivery.readerEnded()
    }
}

/// Every shard's envelopes in one sequence: in order within a shard, shards interleaved by batch.
///
/// Iterate it once (a second iterator, or iterating ``KinesisConsumer/shards`` as well, throws
/// ``KinesisConsumerError/Code/deliveryConflict``). It ends at graceful shutdown.
public struct Envelopes: AsyncSequence, Sendable {
    public typealias Element = Envelope
    let delivery: Delivery

    public func makeAsyncIterator() -> AsyncIterator {
        do {
            return AsyncIterator(reader: EnvelopeReader(queue: try delivery.claimMerged(), delivery: delivery), error: nil)
        } catch {
            return AsyncIterator(reader: nil, error: error)
        }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var reader: EnvelopeReader?
        var error: (any Error)?

        public mutating func next() async throws -> Envelope? {
            if let error {
                self.error = nil
                throw error
            }
            return try await reader?.next()
        }
    }
}

/// The shard sessions of a consumer: one each time this worker gains a shard's lease.
///
/// Iterate it once (a second iterator, or iterating ``KinesisConsumer/envelopes`` as well, throws
/// ``KinesisConsumerError/Code/deliveryConflict``). It ends at graceful shutdown.
public struct ShardSessions: AsyncSequence, Sendable {
    public typealias Element = ShardSession
    let delivery: Delivery

    public func makeAsyncIterator() -> AsyncIterator {
        do {
            try delivery.claimSessions()
            return AsyncIterator(delivery: delivery, error: nil)
        } catch {
            return AsyncIterator(delivery: nil, error: error)
        }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let delivery: Delivery?
        var error: (any Error)?

        public mutating func next() async throws -> ShardSession? {
            if let error {
                self.error = nil
                throw error
            }
            guard let delivery, !delivery.shuttingDown.load(ordering: .relaxed) else { return nil }
            return await delivery.sessions.next()
        }
    }
}

/// One shard, from the moment this worker gained its lease until the lease is lost, the shard
/// has been read to its end and checkpointed, or the consumer shuts down.
public struct ShardSession: Sendable {
    /// The shard.
    public let shardID: String
    let queue: BatchQueue
    let delivery: Delivery

    /// The shard's envelopes, in order. Iterate once.
    public var envelopes: ShardEnvelopes { ShardEnvelopes(queue: queue, delivery: delivery) }
}

/// The envelopes of one ``ShardSession``, in sequence order.
public struct ShardEnvelopes: AsyncSequence, Sendable {
    public typealias Element = Envelope
    let queue: BatchQueue
    let delivery: Delivery

    public func makeAsyncIterator() -> Envelopes.AsyncIterator {
        guard queue.claim() else {
            let error = KinesisConsumerError(code: .deliveryConflict, message: "a shard session's envelopes are iterated once")
            return Envelopes.AsyncIterator(reader: nil, error: error)
        }
        return Envelopes.AsyncIterator(reader: EnvelopeReader(queue: queue, delivery: delivery), error: nil)
    }
}
