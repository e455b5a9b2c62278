public import KinesisLeases

/// The decisions of one worker's lease coordinator, free of I/O: `LeaseCoordinatorActor` feeds it
/// the lease table as it reads it, and the outcomes of its writes, with the current instant.
///
/// - A lease is expired when its counter has not moved for the failover time, as this worker
///   observed it (never judged from wall clocks, which differ between hosts).
/// - Each scan, the worker aims at `ceil(active leases / workers)` leases (at most
///   `maxLeasesForWorker`): it takes unowned and expired leases first, then steals from the most
///   loaded worker, at most `maxLeasesToStealAtOneTime` at a time.
/// - A child shard's lease is not taken while any of its parents' leases is still in the table and
///   not at `SHARD_END`: parents before children.
public struct LeaseCoordinatorStateMachine: Sendable {
    public struct Configuration: Sendable {
        /// A lease whose counter has not moved for this long is expired (`failoverTimeMillis`).
        public var failoverTime: Duration = .seconds(10)
        /// The most leases this worker holds (`maxLeasesForWorker`).
        public var maxLeasesForWorker: Int = .max
        /// The most leases stolen in one scan (`maxLeasesToStealAtOneTime`).
        public var maxLeasesToStealAtOneTime: Int = 1
        public init() {}

        /// How often held leases are renewed: a third of the failover time.
        public var renewInterval: Duration { failoverTime / 3 }
    }

    /// What the coordinator does with one scan of the table.
    public struct Plan: Sendable, Equatable {
        /// Leases to take: unowned or expired.
        public var take: [Lease] = []
        /// Leases to steal from a busier worker.
        public var steal: [Lease] = []
        /// Leases this worker held that the table shows gone or moved to another owner.
        public var lost: [String] = []

        public init(take: [Lease] = [], steal: [Lease] = [], lost: [String] = []) {
            self.take = take
            self.steal = steal
            self.lost = lost
        }
    }

    public let workerID: String
    public let configuration: Configuration
    /// Leases this worker holds, as last written.
    public private(set) var held: [String: Lease] = [:]
    /// For every lease seen: its counter, and when this worker first saw it at that counter.
    private var observed: [String: (counter: Int64, since: ContinuousClock.Instant)] = [:]

    public init(workerID: String, configuration: Configuration = Configuration()) {
        precondition(!workerID.isEmpty, "a worker ID is never empty")
        precondition(configuration.maxLeasesToStealAtOneTime >= 0 && configuration.maxLeasesForWorker >= 1, "lease limits are positive")
        self.workerID = workerID
        self.configuration = configuration
    }

    /// A scan of the lease table: what to take, steal, and what was lost.
    public mutating func scanned(_ leases: [Lease], now: ContinuousClock.Instant) -> Plan {
        var plan = Plan()
        let byKey = Dictionary(uniqueKeysWithValues: leases.map { ($0.leaseKey, $0) })
        // Observe counters; forget leases that are gone.
        for lease in leases {
            if let seen = observed[lease.leaseKey], seen.counter == lease.counter { continue }
            observed[lease.leaseKey] = (lease.counter, now)
        }
        observed = observed.filter { byKey[$0.key] != nil }
        // Leases we think we hold but that the table shows gone, or owned by someone else.
        for (key, mine) in held {
            guard let current = byKey[key], current.owner == workerID, current.counter >= mine.counter else {
                plan.lost.append(key)
                continue
            }
        }
        for key in plan.lost { held[key] = nil }
        plan.lost.sort()

        let active = leases.filter { $0.checkpoint != .shardEnd }
        func expired(_ lease: Lease) -> Bool {
            guard let seen = observed[lease.leaseKey] else { return false }
            return now - seen.since >= configuration.failoverTime
        }
        func parentsDone(_ lease: Lease) -> Bool {
            lease.parentShardIDs.allSatisfy { parent in byKey[parent].map { $0.checkpoint == .shardEnd } ?? true }
        }
        // Live workers: owners of leases that are not expired, and this one.
        var load: [String: [Lease]] = [:]
        for lease in active {
            if let owner = lease.owner, owner != workerID, !expired(lease) { load[owner, default: []].append(lease) }
        }
        let workers = load.count + 1
        let target = min(configuration.maxLeasesForWorker, (active.count + workers - 1) / workers)
        var mine = held.count
        guard mine < target else { return plan }

        // Unowned or expired leases (not ours), parents before children, oldest shards first.
        let available = active
            .filter { $0.owner != workerID && ($0.owner == nil || expired($0)) && parentsDone($0) }
            .sorted { $0.leaseKey < $1.leaseKey }
        for lease in available where mine < target {
            plan.take.append(lease)
            mine += 1
        }
        // Then steal from the most loaded worker, if it holds more than the target.
        if mine < target, let (_, theirs) = load.max(by: { $0.value.count == $1.value.count ? $0.key > $1.key : $0.value.count < $1.value.count }),
            theirs.count > target
        {
            let count = min(configuration.maxLeasesToStealAtOneTime, target - mine, theirs.count - target)
            plan.steal = Array(theirs.filter(parentsDone).sorted { $0.leaseKey < $1.leaseKey }.prefix(count))
        }
        return plan
    }

    /// A take or steal succeeded.
    public mutating func taken(_ lease: Lease) {
        held[lease.leaseKey] = lease
    }

    /// Which held leases to renew now (the actor calls this every ``Configuration/renewInterval``).
    public func leasesToRenew() -> [Lease] {
        held.values.sorted { $0.leaseKey < $1.leaseKey }
    }

    /// A renew (or checkpoint) succeeded with this lease as written.
    public mutating func renewed(_ lease: Lease) {
        guard held[lease.leaseKey] != nil else { return }
        held[lease.leaseKey] = lease
    }

    /// A renew was refused as stale, or the lease is gone: it is lost, its consumer must stop.
    /// Returns whether it was held.
    @discardableResult
    public mutating func lost(_ leaseKey: String) -> Bool {
        held.removeValue(forKey: leaseKey) != nil
    }

    /// Shutting down: every held lease, to release.
    public mutating func leasesToRelease() -> [Lease] {
        defer { held.removeAll() }
        return leasesToRenew()
    }
}
