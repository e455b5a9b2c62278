@_spi(Runtime) import AWSCore
import KinesisAPI
import KinesisLeases
import Logging
import Synchronization

/// Keeps this worker's share of the leases: renews what it holds every third of the failover time,
/// scans the table to take unowned and expired leases and to steal toward a balanced share (as its
/// ``LeaseCoordinatorStateMachine`` decides), syncs shards (new shards get leases, finished
/// parents are deleted), and runs one ``ShardConsumerActor`` per held lease in its task group.
///
/// At shutdown it stops the shard consumers, waits for the user to finish what was handed out, and
/// releases its leases so other workers take them at once.
actor LeaseCoordinatorActor {
    private let context: ConsumerContext
    private var machine: LeaseCoordinatorStateMachine
    private let initialPosition: Checkpoint
    private let shardSyncInterval: Duration
    private let gracePeriod: Duration
    private let shutdown: ShutdownSignal
    private var consumers: [String: (consumer: ShardConsumerActor, lease: LeaseHandle)] = [:]
    private var failure: (any Error)?
    private var scanSoon = false
    private var logger: Logger

    init(
        context: ConsumerContext, workerID: String, leases: KinesisConsumer.Configuration.Leases,
        initialPosition: Checkpoint, gracePeriod: Duration, shutdown: ShutdownSignal
    ) {
        var configuration = LeaseCoordinatorStateMachine.Configuration()
        configuration.failoverTime = leases.failoverTime
        configuration.maxLeasesForWorker = leases.maxLeasesForWorker
        configuration.maxLeasesToStealAtOneTime = leases.maxLeasesToStealAtOneTime
        self.context = context
        self.machine = LeaseCoordinatorStateMachine(workerID: workerID, configuration: configuration)
        self.initialPosition = initialPosition
        self.shardSyncInterval = leases.shardSyncInterval
        self.gracePeriod = gracePeriod
        self.shutdown = shutdown
        var logger = context.logger
        logger[metadataKey: "lease.owner"] = "\(workerID)"
        self.logger = logger
    }

    /// Shards held now.
    var heldShards: [String] { consumers.keys.sorted() }

    func run() async throws {
        try await context.store.prepare()
        try await withThrowingDiscardingTaskGroup { group in
            try await syncShards()
            let tick = machine.configuration.renewInterval
            var nextSync = ContinuousClock.now + shardSyncInterval
            while !shutdown.isRequested, !Task.isCancelled, failure == nil {
                await renewAll()
                await scanAndTake(&group)
                if ContinuousClock.now >= nextSync {
                    do {
                        try await syncShards()
                    } catch {
                        logger.info("shard sync failed; trying again next interval", metadata: ["error": "\(error)"])
                    }
                    nextSync = .now + shardSyncInterval
                }
                if scanSoon {
                    scanSoon = false
                    continue
                }
                await shutdown.wakeup.wait(atMost: tick)
            }
            if let failure { throw failure }
            guard !Task.isCancelled else { return }
            // Graceful shutdown: no more fetching; the user finishes what it has; then release.
            logger.debug("shutting down", metadata: ["lease.count": "\(consumers.count)"])
            context.delivery.beginShutdown()
            group.cancelAll()
            await context.delivery.awaitReaders(timeout: gracePeriod)
            await releaseAll()
        }
    }

    // MARK: Renewing

    private func renewAll() async {
        let held = consumers
        let store = context.store
        let results = await withTaskGroup(of: (String, Result<Lease, any Error>).self) { group in
            for (key, entry) in held {
                group.addTask {
                    do {
                        return (key, .success(try await entry.lease.write { try await store.renew($0) }))
                    } catch {
                        return (key, .failure(error))
                    }
                }
            }
            var results: [(String, Result<Lease, any Error>)] = []
            for await result in group { results.append(result) }
            return results
        }
        for (key, result) in results {
            guard let entry = consumers[key], entry.lease === held[key]?.lease else { continue }  // changed meanwhile
            switch result {
            case .success(let lease):
                machine.renewed(lease)
            case .failure(let error as LeaseStoreError) where error.code == .stale || error.code == .notFound:
                await lose(key, reason: "renewal refused")
            case .failure(let error):
                // A failing store: the lease is ours until it would look expired to the others.
                if ContinuousClock.now - entry.lease.lastWritten >= machine.configuration.failoverTime {
                    await lose(key, reason: "not renewed for the failover time")
                } else {
                    logger.info("lease renewal failed; retrying", metadata: ["kinesis.shard_id": "\(key)", "error": "\(error)"])
                }
            }
        }
    }

    private func lose(_ key: String, reason: String) async {
        guard let consumer = forget(key) else { return }
        logger.info("lease lost", metadata: ["kinesis.shard_id": "\(key)", "reason": "\(reason)"])
        await consumer.leaseLost()
    }

    /// The lease is no longer held: no more writes through its handle; its consumer is returned.
    private func forget(_ key: String) -> ShardConsumerActor? {
        machine.lost(key)
        guard let entry = consumers.removeValue(forKey: key) else { return nil }
        entry.lease.markReleased()
        context.statistics.shardReleased(key)
        return entry.consumer
    }

    // MARK: Taking

    private func scanAndTake(_ group: inout ThrowingDiscardingTaskGroup<any Error>) async {
        let leases: [Lease]
        do {
            leases = try await context.store.leases()
        } catch {
            logger.info("could not read the lease table; trying again", metadata: ["error": "\(error)"])
            return
        }
        guard !shutdown.isRequested else { return }
        let plan = machine.scanned(leases, now: .now)
        for key in plan.lost { await lose(key, reason: "owned by another worker") }
        for lease in plan.take + plan.steal {
            guard !shutdown.isRequested else { return }
            do {
                let taken = try await context.store.take(lease, owner: machine.workerID)
                machine.taken(taken)
                start(taken, in: &group)
                logger.debug(
                    plan.steal.contains(lease) ? "lease stolen" : "lease taken",
                    metadata: ["kinesis.shard_id": "\(lease.leaseKey)", "lease.previous_owner": "\(lease.owner ?? "none")"]
                )
            } catch {
                logger.debug("lease not taken", metadata: ["kinesis.shard_id": "\(lease.leaseKey)", "error": "\(error)"])
            }
        }
    }

    private func start(_ lease: Lease, in group: inout ThrowingDiscardingTaskGroup<any Error>) {
        let handle = LeaseHandle(lease)
        let consumer = ShardConsumerActor(lease: handle, context: context, coordinator: self)
        consumers[lease.leaseKey] = (consumer, handle)
        group.addTask {
            do {
                try await consumer.run()
            } catch {
                await self.consumerFailed(error)
            }
        }
    }

    private func consumerFailed(_ error: any Error) {
        guard failure == nil, !(error is CancellationError) else { return }
        failure = error
        shutdown.wakeup.signal()
    }

    // MARK: Messages from shard consumers

    /// A shard consumer reached its shard's end: its children get leases before it records
    /// `SHARD_END`.
    func createChildLeases(_ children: [ChildShard]) async {
        for lease in ShardSync.childLeases(children) {
            do {
                _ = try await context.store.createIfAbsent(lease)
            } catch {
                logger.info("could not create a child lease; shard sync will", metadata: ["kinesis.shard_id": "\(lease.leaseKey)", "error": "\(error)"])
            }
        }
    }

    /// A shard is finished (`SHARD_END` written): it is no longer held, and the children may be
    /// taken at once.
    func shardFinished(_ shardID: String) {
        _ = forget(shardID)
        scanSoon = true
        shutdown.wakeup.signal()
    }

    /// A shard consumer's checkpoint found the lease taken.
    func consumerLostLease(_ shardID: String) async {
        await lose(shardID, reason: "checkpoint refused")
    }

    // MARK: Shard sync

    private func syncShards() async throws {
        let shards = try await context.reader.listShards(context.stream)
        let leases = try await context.store.leases()
        let plan = ShardSync.plan(shards: shards, leases: leases, initialPosition: initialPosition)
        for lease in plan.create {
            _ = try await context.store.createIfAbsent(lease)
        }
        for lease in plan.delete {
            do {
                try await context.store.delete(lease)
            } catch let error as LeaseStoreError where error.code == .stale || error.code == .notFound {
                continue  // another worker got there first
            }
        }
        if !plan.create.isEmpty || !plan.delete.isEmpty {
            logger.debug("shard sync", metadata: ["leases.created": "\(plan.create.count)", "leases.deleted": "\(plan.delete.count)"])
        }
    }

    // MARK: Shutdown

    private func releaseAll() async {
        let leases = machine.leasesToRelease()
        for lease in leases {
            guard let entry = consumers.removeValue(forKey: lease.leaseKey) else { continue }
            do {
                _ = try await entry.lease.write { try await self.context.store.release($0) }
                logger.debug("lease released", metadata: ["kinesis.shard_id": "\(lease.leaseKey)"])
            } catch {
                logger.info("could not release a lease; it expires after the failover time", metadata: ["kinesis.shard_id": "\(lease.leaseKey)", "error": "\(error)"])
            }
            entry.lease.markReleased()
            await entry.consumer.leaseLost(released: true)
        }
    }
}

/// The request for a graceful shutdown, visible to every part of one consumer.
final class ShutdownSignal: Sendable {
    private let requested = Atomic<Bool>(false)
    let wakeup = Wakeup()

    var isRequested: Bool { requested.load(ordering: .relaxed) }

    func request() {
        requested.store(true, ordering: .relaxed)
        wakeup.signal()
    }
}
