public import KinesisAPI
public import KinesisLeases

/// Shard sync's decisions, free of I/O: which leases to create for the shards `ListShards`
/// returned, and which finished leases to delete.
///
/// - A shard gets a lease unless it has one, or one of its descendants has one (it was read and
///   its lease deleted).
/// - A shard whose parent has a lease (or gets one in the same plan) starts at `TRIM_HORIZON`: it
///   is read after its parents. A shard without such parents starts at the initial position. With `LATEST`, closed shards without a lease get none: nothing new comes
///   from them.
/// - A `SHARD_END` lease is deleted once every child has a lease that has started (a checkpoint
///   that is a sequence number or `SHARD_END`).
public struct ShardSync: Sendable {
    /// Leases to create and to delete.
    public struct Plan: Sendable, Equatable {
        public var create: [Lease] = []
        public var delete: [Lease] = []

        public init(create: [Lease] = [], delete: [Lease] = []) {
            self.create = create
            self.delete = delete
        }
    }

    /// The plan for these shards and leases, with `initialPosition` for shards without parents.
    public static func plan(shards: [Shard], leases: [Lease], initialPosition: Checkpoint) -> Plan {
        var plan = Plan()
        let leaseByKey = Dictionary(leases.map { ($0.leaseKey, $0) }, uniquingKeysWith: { first, _ in first })
        var children: [String: [String]] = [:]
        for shard in shards {
            for parent in shard.parentShardIDs { children[parent, default: []].append(shard.shardID) }
        }
        func hasLeasedDescendant(_ shardID: String, depth: Int = 0) -> Bool {
            guard depth < 64 else { return false }
            for child in children[shardID] ?? [] {
                if leaseByKey[child] != nil || hasLeasedDescendant(child, depth: depth + 1) { return true }
            }
            return false
        }
        // Shard IDs grow with creation, so parents come before their children.
        var leased = Set(leaseByKey.keys)
        for shard in shards.sorted(by: { $0.shardID < $1.shardID }) where leaseByKey[shard.shardID] == nil {
            if hasLeasedDescendant(shard.shardID) { continue }
            let parents = shard.parentShardIDs.filter { leased.contains($0) }
            let checkpoint: Checkpoint
            if !parents.isEmpty {
                checkpoint = .trimHorizon
            } else {
                if initialPosition == .latest && shard.isClosed { continue }
                checkpoint = initialPosition
            }
            leased.insert(shard.shardID)
            plan.create.append(
                Lease(leaseKey: shard.shardID, checkpoint: checkpoint, parentShardIDs: Set(parents), hashKeyRange: shard.hashKeyRange)
            )
        }
        for lease in leases.sorted(by: { $0.leaseKey < $1.leaseKey }) where lease.checkpoint == .shardEnd {
            let known = lease.childShardIDs.isEmpty ? Set(children[lease.leaseKey] ?? []) : lease.childShardIDs
            guard !known.isEmpty else { continue }
            let started = known.allSatisfy { child in
                guard let childLease = leaseByKey[child] else { return false }
                return childLease.checkpoint.sequenceNumber != nil || childLease.checkpoint == .shardEnd
            }
            if started { plan.delete.append(lease) }
        }
        return plan
    }

    /// Leases for the children a finished shard reported (`TRIM_HORIZON`, parents recorded).
    public static func childLeases(_ children: [ChildShard]) -> [Lease] {
        children.map { child in
            Lease(leaseKey: child.shardID, checkpoint: .trimHorizon, parentShardIDs: Set(child.parentShards), hashKeyRange: child.hashKeyRange)
        }
    }
}
