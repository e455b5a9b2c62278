import Synchronization

/// Envelopes of one shard fetched by one `GetRecords` call, waiting for the user.
struct Batch: Sendable {
    let shard: ShardConsumerActor
    let envelopes: [Envelope]
    let bytes: Int
}

/// A FIFO with one reader: shard consumers push batches, the user's iterator pulls a whole batch
/// at a time (one lock per batch, none per record); sessions are handed out the same way.
final class HandoffQueue<Element: Sendable>: Sendable {
    private struct State {
        var batches: [Element] = []
        var head = 0
        var waiter: CheckedContinuation<Element?, Never>?
        var finished = false
    }
    private let state = Mutex(State())
    /// Set by the first iterator: a queue has one reader.
    let claimed = Atomic<Bool>(false)

    /// Claims the queue for one reader; `false` when it was claimed already.
    func claim() -> Bool {
        claimed.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged
    }

    /// Queues a batch; `false` when the queue is finished (the batch is not queued).
    @discardableResult
    func push(_ batch: Element) -> Bool {
        let (waiter, accepted) = state.withLock { state -> (CheckedContinuation<Element?, Never>?, Bool) in
            guard !state.finished else { return (nil, false) }
            if let waiter = state.waiter {
                state.waiter = nil
                return (waiter, true)
            }
            state.batches.append(batch)
            return (nil, true)
        }
        waiter?.resume(returning: batch)
        return accepted
    }

    /// No more batches: the reader gets what is queued, then `nil`.
    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<Element?, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.batches.count > state.head ? nil : state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// Takes every queued batch (at shutdown, to give their budget back).
    func drain() -> [Element] {
        state.withLock { state in
            let rest = Array(state.batches[state.head...])
            state.batches.removeAll()
            state.head = 0
            return rest
        }
    }

    /// Takes the first queued element, compacting the storage now and then.
    private static func popFirst(_ state: inout State) -> Element? {
        guard state.head < state.batches.count else { return nil }
        let element = state.batches[state.head]
        state.head += 1
        if state.head > 64 && state.head * 2 > state.batches.count {
            state.batches.removeFirst(state.head)
            state.head = 0
        }
        return element
    }

    /// The next batch, or `nil` once finished and empty (or when the task is cancelled).
    func next() async -> Element? {
        // .some(.some): an element; .some(nil): the end; nil: wait.
        let step: Element?? = state.withLock { state in
            if let batch = Self.popFirst(&state) { return .some(batch) }
            return state.finished ? .some(nil) : nil
        }
        if let step { return step }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Element?, Never>) in
                let immediate: Element?? = state.withLock { state in
                    if let batch = Self.popFirst(&state) { return .some(batch) }
                    if state.finished || Task.isCancelled { return .some(nil) }
                    precondition(state.waiter == nil, "a batch queue has one reader")
                    state.waiter = continuation
                    return .none
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Element?, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }
}

typealias BatchQueue = HandoffQueue<Batch>

/// The bound on everything waiting for the user, across shards: a shard consumer acquires room
/// for a batch before queueing it and the reader gives it back once the user has moved past it.
final class BufferBudget: Sendable {
    let maxRecords: Int
    let maxBytes: Int
    private struct Waiter {
        let id: UInt64
        let records: Int
        let bytes: Int
        let continuation: CheckedContinuation<Void, any Error>
    }
    private struct State {
        var records = 0
        var bytes = 0
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
        var peakRecords = 0
        var peakBytes = 0
    }
    private let state = Mutex(State())

    init(maxRecords: Int, maxBytes: Int) {
        self.maxRecords = maxRecords
        self.maxBytes = maxBytes
    }

    /// Records and bytes waiting now, and the most seen.
    var usage: (records: Int, bytes: Int, peakRecords: Int, peakBytes: Int) {
        state.withLock { ($0.records, $0.bytes, $0.peakRecords, $0.peakBytes) }
    }

    private func fits(_ records: Int, _ bytes: Int, _ state: State) -> Bool {
        // A batch larger than the whole bound still goes through when nothing else waits.
        (state.records == 0 && state.bytes == 0) || (state.records + records <= maxRecords && state.bytes + bytes <= maxBytes)
    }

    private static func add(_ records: Int, _ bytes: Int, to state: inout State) {
        state.records += records
        state.bytes += bytes
        state.peakRecords = max(state.peakRecords, state.records)
        state.peakBytes = max(state.peakBytes, state.bytes)
    }

    /// Waits for room for `records` records of `bytes` bytes, in arrival order; throws
    /// `CancellationError` when the task is cancelled while waiting.
    func acquire(records: Int, bytes: Int) async throws {
        let id: UInt64? = state.withLock { state in
            if state.waiters.isEmpty && fits(records, bytes, state) {
                Self.add(records, bytes, to: &state)
                return nil
            }
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let cancelled = state.withLock { state in
                    if Task.isCancelled { return true }
                    state.waiters.append(Waiter(id: id, records: records, bytes: bytes, continuation: continuation))
                    return false
                }
                if cancelled {
                    continuation.resume(throwing: CancellationError())
                } else {
                    release(records: 0, bytes: 0)  // it may fit already
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Gives room back and wakes the waiters that now fit, in order.
    func release(records: Int, bytes: Int) {
        let ready: [Waiter] = state.withLock { state in
            state.records -= records
            state.bytes -= bytes
            var ready: [Waiter] = []
            while let first = state.waiters.first, fits(first.records, first.bytes, state) {
                state.waiters.removeFirst()
                Self.add(first.records, first.bytes, to: &state)
                ready.append(first)
            }
            return ready
        }
        for waiter in ready { waiter.continuation.resume() }
    }
}
