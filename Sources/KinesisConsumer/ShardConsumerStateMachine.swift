#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import KinesisAPI
public import KinesisLeases

/// The decisions of one shard's consumer, free of I/O and of time: `ShardConsumerActor` feeds it
/// events (with the current instant and a jitter draw where they matter) and performs the actions it
/// returns.
///
/// It decides where reading starts (from the lease's checkpoint), drops what is at or below that
/// checkpoint (sub-sequence numbers included, so a restart inside an aggregate resumes mid-aggregate),
/// paces `GetRecords` (at once while behind, the idle time when caught up, never more than 5 calls a
/// second), backs off on throttling with full jitter, re-iterates after the last record fetched when
/// an iterator expires, stops fetching while the buffer is full, accepts only checkpoints that move
/// forward within what was handed out, and at the end of a closed shard asks for `SHARD_END` once
/// every record handed out is checkpointed.
public struct ShardConsumerStateMachine: Sendable {
    /// Settings (KCL's names in parentheses).
    public struct Configuration: Sendable {
        /// Records a `GetRecords` call asks for (`maxRecords`), 1 to 10,000.
        public var maxRecords: Int = 10_000
        /// The wait between calls once the shard is caught up (`idleTimeBetweenReadsInMillis`).
        public var idleTimeBetweenReads: Duration = .seconds(1)
        /// Where to start when the lease's checkpoint is `AT_TIMESTAMP`.
        public var initialTimestamp: Date?
        /// The most records waiting for the user before fetching stops.
        public var maxBufferedRecords: Int = 10_000
        /// The most bytes (of record data) waiting for the user before fetching stops.
        public var maxBufferedBytes: Int = 16 * 1024 * 1024
        /// The backoff base after throttling; the delay is a random share of `base * 2^(n-1)`.
        public var throttleBackoffBase: Duration = .milliseconds(200)
        /// The longest backoff.
        public var maxBackoff: Duration = .seconds(10)
        /// `GetRecords` calls a second at most (Kinesis allows 5 per shard).
        public var maxCallsPerSecond = 5
        /// Drop user records whose hash key is outside the shard's range, one by one (KCL drops the
        /// whole aggregate); by default they are delivered and counted.
        public var dropRecordsOutsideShardRange = false

        public init() {}
    }

    /// What the actor does next.
    public enum Action: Sendable, Equatable {
        /// Ask for an iterator at this position.
        case getIterator(IteratorPosition)
        /// Call `GetRecords` with this iterator and limit, after this delay.
        case fetch(iterator: String, limit: Int, after: Duration)
        /// Hand these records to the user, then keep going with `then`.
        case deliver([DeaggregatedRecord], outOfRange: Int, then: Next)
        /// Write this checkpoint through the lease store.
        case writeCheckpoint(Checkpoint)
        /// Refuse the user's checkpoint, for this reason.
        case rejectCheckpoint(CheckpointRejection)
        /// The shard is closed and done: checkpoint `SHARD_END` and record the children.
        case finishShard(children: [ChildShard])
        /// Nothing to do until the next event.
        case none
        /// Stop: the lease is lost or the shard is finished.
        case stop
    }

    /// What follows a delivery.
    public enum Next: Sendable, Equatable {
        case fetch(iterator: String, limit: Int, after: Duration)
        /// The buffer is full: wait for the user to consume.
        case pause
        /// The shard's end was reached: wait for the checkpoints of what was delivered.
        case awaitShardEnd
    }

    /// Why a checkpoint was refused.
    public enum CheckpointRejection: Sendable, Equatable {
        /// It is before the checkpoint already written.
        case regression(current: Checkpoint)
        /// It is past every record handed out.
        case notDelivered
        /// The lease was lost; nothing is written.
        case leaseLost
    }

    public let shardID: String
    public let hashKeyRange: HashKeyRange?
    public let configuration: Configuration

    /// The checkpoint last written (or the lease's when reading started).
    public private(set) var checkpoint: Checkpoint
    /// Records at or below this are dropped: the checkpoint reading started from.
    private var floor: (SequenceNumber, UInt64)?
    /// The last Kinesis record fetched, for re-iterating after an expired iterator.
    private var lastFetched: SequenceNumber?
    /// The last user record handed out.
    private(set) var lastDelivered: (SequenceNumber, UInt64)?
    private var startPosition: IteratorPosition?
    private var pausedIterator: String?
    private var bufferedRecords = 0
    private var bufferedBytes = 0
    private var throttles = 0
    private var recentCalls: [ContinuousClock.Instant] = []
    private var children: [ChildShard]?
    private var leaseLost = false

    public init(shardID: String, hashKeyRange: HashKeyRange?, checkpoint: Checkpoint, configuration: Configuration = Configuration()) {
        precondition((1...10_000).contains(configuration.maxRecords), "maxRecords is between 1 and 10,000")
        precondition(configuration.maxCallsPerSecond >= 1, "at least one call a second")
        self.shardID = shardID
        self.hashKeyRange = hashKeyRange
        self.checkpoint = checkpoint
        self.configuration = configuration
    }

    // MARK: Reading

    /// Reading begins: where from.
    public mutating func start() -> Action {
        let position: IteratorPosition
        switch checkpoint {
        case .shardEnd:
            return .stop
        case .trimHorizon:
            position = .trimHorizon
        case .latest:
            position = .latest
        case .atTimestamp:
            position = .atTimestamp(configuration.initialTimestamp ?? Date(timeIntervalSince1970: 0))
        default:
            let sequence = checkpoint.sequenceNumber!
            floor = (sequence, checkpoint.subSequenceNumber)
            // AT (not AFTER) the checkpoint: the rest of an aggregate it points into comes again.
            position = .atSequenceNumber(sequence)
        }
        startPosition = position
        return .getIterator(position)
    }

    /// An iterator arrived.
    public mutating func iteratorReceived(_ iterator: String, now: ContinuousClock.Instant) -> Action {
        guard !leaseLost else { return .stop }
        throttles = 0
        return .fetch(iterator: iterator, limit: configuration.maxRecords, after: delayForRate(now))
    }

    /// A `GetRecords` answer, deaggregated. `bytes` is the data size of `records`.
    public mutating func fetched(
        _ records: [DeaggregatedRecord],
        lastRecord: SequenceNumber?,
        nextIterator: String?,
        millisBehindLatest: Int64?,
        childShards: [ChildShard]?,
        now: ContinuousClock.Instant
    ) -> Action {
        guard !leaseLost else { return .stop }
        throttles = 0
        if let lastRecord { lastFetched = lastRecord }
        var kept: [DeaggregatedRecord] = []
        kept.reserveCapacity(records.count)
        var outOfRange = 0
        var keptBytes = 0
        for record in records {
            if let (sequence, sub) = floor {
                if !Self.precedes((sequence, sub), (record.sequenceNumber, record.subSequenceNumber)) {
                    continue
                }
                floor = nil  // records come in order: nothing after this one is at or below it
            }
            if let range = hashKeyRange, record.isAggregated, !range.contains(record.effectiveHashKey) {
                outOfRange += 1
                if configuration.dropRecordsOutsideShardRange { continue }
            }
            kept.append(record)
            keptBytes += record.data.count
        }
        if let last = kept.last { lastDelivered = (last.sequenceNumber, last.subSequenceNumber) }
        bufferedRecords += kept.count
        bufferedBytes += keptBytes

        let next: Next
        if nextIterator == nil {
            children = childShards ?? []
            next = .awaitShardEnd
        } else if isBufferFull {
            pausedIterator = nextIterator
            next = .pause
        } else {
            let behind = !records.isEmpty && (millisBehindLatest ?? 0) > 0
            let wait = behind ? .zero : configuration.idleTimeBetweenReads
            next = .fetch(iterator: nextIterator!, limit: configuration.maxRecords, after: delayForRate(now, atLeast: wait))
        }
        if kept.isEmpty && outOfRange == 0 {
            switch next {
            case .fetch(let iterator, let limit, let after): return .fetch(iterator: iterator, limit: limit, after: after)
            case .awaitShardEnd: return shardEndIfDone()
            case .pause: return .none
            }
        }
        return .deliver(kept, outOfRange: outOfRange, then: next)
    }

    /// `GetRecords` or `GetShardIterator` was throttled (or failed transiently): back off, then
    /// retry `iterator` (the same one; nothing was read).
    public mutating func throttled(iterator: String, jitter: Double, now: ContinuousClock.Instant) -> Action {
        guard !leaseLost else { return .stop }
        let delay = nextBackoff(jitter: jitter)
        return .fetch(iterator: iterator, limit: configuration.maxRecords, after: delayForRate(now, atLeast: delay))
    }

    /// `GetShardIterator` was throttled (or failed transiently): how long to wait before asking
    /// again, on the same backoff as `GetRecords`.
    public mutating func iteratorRequestFailed(jitter: Double) -> Duration {
        nextBackoff(jitter: jitter)
    }

    /// Full jitter over `base * 2^(n-1)`, capped, for the n-th failure in a row.
    private mutating func nextBackoff(jitter: Double) -> Duration {
        throttles += 1
        let exponent = min(throttles - 1, 20)
        let ceiling = min(configuration.throttleBackoffBase * (1 << exponent), configuration.maxBackoff)
        return ceiling * min(max(jitter, 0), 1)
    }

    /// The iterator expired: a new one right after the last record fetched (or where reading
    /// started, if nothing was fetched), so that nothing is skipped or repeated.
    public mutating func iteratorExpired() -> Action {
        guard !leaseLost else { return .stop }
        if let lastFetched { return .getIterator(.afterSequenceNumber(lastFetched)) }
        return .getIterator(startPosition ?? .trimHorizon)
    }

    /// The user took `records` records of `bytes` bytes from the buffer.
    public mutating func consumed(records: Int, bytes: Int, now: ContinuousClock.Instant) -> Action {
        bufferedRecords = max(0, bufferedRecords - records)
        bufferedBytes = max(0, bufferedBytes - bytes)
        guard !leaseLost, let iterator = pausedIterator, !isBufferFull else { return .none }
        pausedIterator = nil
        return .fetch(iterator: iterator, limit: configuration.maxRecords, after: delayForRate(now))
    }

    private var isBufferFull: Bool {
        bufferedRecords >= configuration.maxBufferedRecords || bufferedBytes >= configuration.maxBufferedBytes
    }

    /// Keeps to `maxCallsPerSecond` (5) `GetRecords` calls a second: the delay before the next call (at least
    /// `minimum`), which is recorded at the time it will be made.
    private mutating func delayForRate(_ now: ContinuousClock.Instant, atLeast minimum: Duration = .zero) -> Duration {
        var at = now + minimum
        recentCalls.removeAll { at - $0 >= .seconds(1) }
        let limit = configuration.maxCallsPerSecond
        if recentCalls.count >= limit {
            at = max(at, recentCalls[recentCalls.count - limit] + .seconds(1))
        }
        recentCalls.append(at)
        return at - now
    }

    // MARK: Checkpoints

    /// The user checkpoints everything up to and including this record.
    public mutating func checkpointRequested(_ sequenceNumber: SequenceNumber, subSequenceNumber: UInt64) -> Action {
        guard !leaseLost else { return .rejectCheckpoint(.leaseLost) }
        let requested = Checkpoint.at(sequenceNumber, subSequenceNumber: subSequenceNumber)
        if let current = checkpoint.sequenceNumber,
            Self.precedes((sequenceNumber, subSequenceNumber), (current, checkpoint.subSequenceNumber))
        {
            return .rejectCheckpoint(.regression(current: checkpoint))
        }
        guard let (lastSequence, lastSub) = lastDelivered,
            !Self.precedes((lastSequence, lastSub), (sequenceNumber, subSequenceNumber))
        else { return .rejectCheckpoint(.notDelivered) }
        return .writeCheckpoint(requested)
    }

    /// A checkpoint was written. Writes may be reported out of order: one before the checkpoint
    /// already known is ignored. At a closed shard's end, once it covers everything delivered, the
    /// shard can finish.
    public mutating func checkpointWritten(_ written: Checkpoint) -> Action {
        if let new = written.sequenceNumber, let current = checkpoint.sequenceNumber,
            Self.precedes((new, written.subSequenceNumber), (current, checkpoint.subSequenceNumber))
        {
            return .none
        }
        checkpoint = written
        guard children != nil else { return .none }
        return shardEndIfDone()
    }

    private func shardEndIfDone() -> Action {
        guard let children, !leaseLost else { return .none }
        if let (sequence, sub) = lastDelivered {
            guard checkpoint.sequenceNumber == sequence, checkpoint.subSequenceNumber == sub else { return .none }
        }
        return .finishShard(children: children)
    }

    /// Whether position `a` (sequence number, sub-sequence number) comes before `b`.
    static func precedes(_ a: (SequenceNumber, UInt64), _ b: (SequenceNumber, UInt64)) -> Bool {
        a.0 < b.0 || (a.0 == b.0 && a.1 < b.1)
    }

    /// The lease was lost: stop, and refuse checkpoints from now on.
    public mutating func leaseWasLost() -> Action {
        leaseLost = true
        return .stop
    }
}
