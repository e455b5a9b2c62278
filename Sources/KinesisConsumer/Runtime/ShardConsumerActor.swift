@_spi(Runtime) import AWSCore
import KinesisAPI
import KinesisLeases
import Logging
import Synchronization

/// What every actor of one consumer shares.
struct ConsumerContext: Sendable {
    let stream: StreamIdentifier
    let reader: any KinesisReading
    let store: any LeaseStore
    let delivery: Delivery
    let statistics: ConsumerStatistics
    let shardConfiguration: ShardConsumerStateMachine.Configuration
    let logger: Logger
}

/// Reads one shard for as long as this worker holds its lease: performs what its
/// ``ShardConsumerStateMachine`` decides (iterators, paced `GetRecords`, backoff, deliveries,
/// checkpoints, shard end) and feeds the outcomes back to it.
///
/// Its `run()` is a child task of the coordinator's task group; the user's checkpoints and the
/// reader's "moved past a batch" arrive as messages while it runs.
actor ShardConsumerActor {
    nonisolated let shardID: String
    private var machine: ShardConsumerStateMachine
    private let lease: LeaseHandle
    private let context: ConsumerContext
    private var deaggregator: Deaggregator
    private let lost = Atomic<Bool>(false)
    private let wakeup = Wakeup()
    private var pendingAction: ShardConsumerStateMachine.Action?
    private var queue: BatchQueue?
    private var logger: Logger
    /// Tells the coordinator about a shard end (to create the children's leases first) and about a
    /// lease this actor found lost.
    private let coordinator: LeaseCoordinatorActor

    init(lease: LeaseHandle, context: ConsumerContext, coordinator: LeaseCoordinatorActor) {
        let current = lease.current
        self.shardID = current.leaseKey
        self.lease = lease
        self.context = context
        self.coordinator = coordinator
        self.machine = ShardConsumerStateMachine(
            shardID: current.leaseKey, hashKeyRange: current.hashKeyRange, checkpoint: current.checkpoint,
            configuration: context.shardConfiguration
        )
        self.deaggregator = Deaggregator(shardID: current.leaseKey, logger: context.logger)
        var logger = context.logger
        logger[metadataKey: "kinesis.shard_id"] = "\(current.leaseKey)"
        self.logger = logger
    }

    /// Whether the lease was lost: the reader skips this shard's queued batches.
    nonisolated var isLeaseLost: Bool { lost.load(ordering: .relaxed) }

    // MARK: Reading

    /// Reads until the shard is finished, the lease is lost, or the task is cancelled. Throws only
    /// errors the consumer cannot go on with (access denied, a missing stream).
    func run() async throws {
        defer { endSession() }
        var action = machine.start()
        logger.debug("shard consumer started", metadata: ["kinesis.checkpoint": "\(machine.checkpoint)"])
        while !Task.isCancelled {
            switch action {
            case .getIterator(let position):
                action = try await getIterator(position)
            case .fetch(let iterator, let limit, let after):
                if after > .zero {
                    do { try await Task.sleep(for: after) } catch { return }
                }
                action = try await fetch(iterator, limit: limit)
            case .deliver(let records, let outOfRange, let next):
                guard await deliver(records, outOfRange: outOfRange) else { return }
                switch next {
                case .fetch(let iterator, let limit, let after): action = .fetch(iterator: iterator, limit: limit, after: after)
                case .pause, .awaitShardEnd: action = await nextEvent()
                }
            case .finishShard(let children):
                try await finishShard(children)
                return
            case .none:
                action = await nextEvent()
            case .stop:
                return
            case .writeCheckpoint, .rejectCheckpoint:
                preconditionFailure("checkpoint actions come from checkpoint messages")
            }
        }
    }

    /// Waits for a message to give the loop something to do.
    private func nextEvent() async -> ShardConsumerStateMachine.Action {
        while pendingAction == nil && !Task.isCancelled && !isLeaseLost {
            await wakeup.wait()
        }
        if isLeaseLost { return .stop }
        defer { pendingAction = nil }
        return pendingAction ?? .stop
    }

    private func getIterator(_ position: IteratorPosition) async throws -> ShardConsumerStateMachine.Action {
        while true {
            do {
                let iterator = try await context.reader.getShardIterator(context.stream, shardID: shardID, position: position)
                return machine.iteratorReceived(iterator, now: .now)
            } catch {
                try check(error, "GetShardIterator")
                context.statistics.throttled()
                do { try await Task.sleep(for: machine.iteratorRequestFailed(jitter: Double.random(in: 0..<1))) } catch { return .stop }
                if isLeaseLost { return .stop }
            }
        }
    }

    private func fetch(_ iterator: String, limit: Int) async throws -> ShardConsumerStateMachine.Action {
        let output: GetRecordsOutput
        do {
            output = try await context.reader.getRecords(iterator: iterator, limit: limit, streamARN: context.stream.arn)
        } catch let error as AWSError where error.code == .expiredIterator {
            logger.debug("shard iterator expired; re-iterating after the last record fetched")
            return machine.iteratorExpired()
        } catch {
            try check(error, "GetRecords")
            context.statistics.throttled()
            logger.debug("GetRecords throttled or failed; backing off", metadata: ["error": "\(error)"])
            return machine.throttled(iterator: iterator, jitter: Double.random(in: 0..<1), now: .now)
        }
        context.statistics.fetched(shardID: shardID, millisBehindLatest: output.millisBehindLatest)
        var records: [DeaggregatedRecord] = []
        records.reserveCapacity(output.records.count)
        deaggregator.deaggregate(output.records, into: &records)
        lastMillisBehindLatest = output.millisBehindLatest
        return machine.fetched(
            records, lastRecord: output.records.last?.sequenceNumber, nextIterator: output.nextShardIterator,
            millisBehindLatest: output.millisBehindLatest, childShards: output.childShards, now: .now
        )
    }

    private var lastMillisBehindLatest: Int64?

    /// Throttling and transient failures are retried by the caller; anything else ends the
    /// consumer with an error naming the shard and the call (a cancellation ends the loop quietly).
    private func check(_ error: any Error, _ operation: String) throws {
        if error is CancellationError { throw error }
        switch RetryPolicy.classify(error) {
        case .throttling, .transient:
            return
        case .final:
            throw KinesisConsumerError(code: .consumerFailed, shardID: shardID, message: "\(operation) failed", underlying: error)
        }
    }

    /// Queues a batch for the user, within the total budget. `false` when the loop must end
    /// (lease lost, shutdown).
    private func deliver(_ records: [DeaggregatedRecord], outOfRange: Int) async -> Bool {
        if outOfRange > 0 {
            context.statistics.outOfRange(outOfRange)
            logger.info(
                "records outside the shard's hash-key range",
                metadata: ["count": "\(outOfRange)", "dropped": "\(context.shardConfiguration.dropRecordsOutsideShardRange)"]
            )
        }
        guard !records.isEmpty else { return true }
        var bytes = 0
        var envelopes: [Envelope] = []
        envelopes.reserveCapacity(records.count)
        for record in records {
            bytes += record.data.count
            envelopes.append(Envelope(record: record, millisBehindLatest: lastMillisBehindLatest, shard: self))
        }
        if queue == nil {
            guard let sink = await context.delivery.sink(for: self) else { return false }
            queue = sink
        }
        do {
            try await context.delivery.budget.acquire(records: envelopes.count, bytes: bytes)
        } catch {
            return false
        }
        guard !isLeaseLost, queue!.push(Batch(shard: self, envelopes: envelopes, bytes: bytes)) else {
            context.delivery.budget.release(records: envelopes.count, bytes: bytes)
            return false
        }
        return true
    }

    private func endSession() {
        if let queue { context.delivery.shardEnded(queue) }
        queue = nil
    }

    /// The closed shard is read and every record handed out is checkpointed: the children's
    /// leases are created, then this lease records them and `SHARD_END`.
    private func finishShard(_ children: [ChildShard]) async throws {
        logger.debug("shard end", metadata: ["kinesis.child_shards": "\(children.map(\.shardID))"])
        await coordinator.createChildLeases(children)
        do {
            _ = try await lease.write { current in
                var written = try await context.store.recordChildShards(current, Set(children.map(\.shardID)))
                written = try await context.store.checkpoint(written, .shardEnd)
                return written
            }
            context.statistics.checkpointWritten()
            _ = machine.checkpointWritten(.shardEnd)
            await coordinator.shardFinished(shardID)
        } catch let error as LeaseStoreError where error.code == .stale || error.code == .notFound {
            markLost()
            await coordinator.consumerLostLease(shardID)
        } catch {
            // The lease store failed: the next owner finds the shard read to its end and finishes it.
            logger.info("could not checkpoint SHARD_END", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Messages

    /// The reader moved past a batch of this shard.
    func consumed(records: Int, bytes: Int) {
        let action = machine.consumed(records: records, bytes: bytes, now: .now)
        if action != .none { post(action) }
    }

    /// The user's checkpoint: everything up to and including this record is done.
    func checkpoint(_ sequenceNumber: SequenceNumber, subSequenceNumber: UInt64) async throws {
        switch machine.checkpointRequested(sequenceNumber, subSequenceNumber: subSequenceNumber) {
        case .rejectCheckpoint(let rejection):
            throw KinesisConsumerError.rejected(rejection, shardID)
        case .writeCheckpoint(let checkpoint):
            let written: Lease
            do {
                written = try await lease.write { current in
                    // Re-checked after waiting for earlier writes: a later checkpoint may be there.
                    if let stored = current.checkpoint.sequenceNumber,
                        !ShardConsumerStateMachine.precedes((stored, current.checkpoint.subSequenceNumber), (sequenceNumber, subSequenceNumber))
                    {
                        return current
                    }
                    return try await context.store.checkpoint(current, checkpoint)
                }
            } catch let error as LeaseStoreError where error.code == .stale || error.code == .notFound {
                markLost()
                await coordinator.consumerLostLease(shardID)
                throw KinesisConsumerError.leaseLost(shardID)
            } catch {
                throw KinesisConsumerError(code: .consumerFailed, shardID: shardID, message: "the checkpoint could not be written; it may be retried", underlying: error)
            }
            context.statistics.checkpointWritten()
            // Writes may finish out of order; the machine keeps only forward moves.
            let action = machine.checkpointWritten(written.checkpoint)
            if case .finishShard = action { post(action) }
        default:
            preconditionFailure("a checkpoint request is written or rejected")
        }
    }

    /// The coordinator found the lease lost (a renewal was refused, another worker owns it), or
    /// released it at shutdown.
    func leaseLost(released: Bool = false) {
        markLost(released: released)
    }

    private func markLost(released: Bool = false) {
        guard !lost.exchange(true, ordering: .relaxed) else { return }
        _ = machine.leaseWasLost()
        lease.markReleased()
        if released {
            logger.debug("lease released; the shard's delivery ends")
        } else {
            logger.info("lease lost; the shard's delivery ends")
        }
        endSession()
        post(.stop)
    }

    private func post(_ action: ShardConsumerStateMachine.Action) {
        pendingAction = action
        wakeup.signal()
    }
}
