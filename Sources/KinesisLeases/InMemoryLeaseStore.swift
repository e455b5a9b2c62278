/// Leases in memory, for unit tests. Same semantics as the durable stores.
public actor InMemoryLeaseStore: LeaseStore {
    private var stored: [String: Lease] = [:]

    public init(_ leases: [Lease] = []) {
        for lease in leases { stored[lease.leaseKey] = lease }
    }

    public func prepare() async throws {}

    public func leases() async throws -> [Lease] {
        stored.values.sorted { $0.leaseKey < $1.leaseKey }
    }

    public func lease(_ leaseKey: String) async throws -> Lease? { stored[leaseKey] }

    public func createIfAbsent(_ lease: Lease) async throws -> Bool {
        guard stored[lease.leaseKey] == nil else { return false }
        stored[lease.leaseKey] = lease
        return true
    }

    public func renew(_ lease: Lease) async throws -> Lease {
        try write(lease, checkingOwner: true, "renew", looksWritten: { $0.owner == lease.owner }) { _ in }
    }

    public func take(_ lease: Lease, owner: String) async throws -> Lease {
        LeaseWritePreconditions.check(owner: owner)
        return try write(lease, checkingOwner: false, "take", looksWritten: { $0.owner == owner }) { stored in
            stored.ownerSwitchesSinceCheckpoint = Self.ownerSwitches(afterTaking: stored, by: owner)
            stored.owner = owner
        }
    }

    public func checkpoint(_ lease: Lease, _ checkpoint: Checkpoint) async throws -> Lease {
        try write(lease, checkingOwner: true, "checkpoint", looksWritten: { $0.owner == lease.owner && $0.checkpoint == checkpoint }) { stored in
            stored.checkpoint = checkpoint
            stored.ownerSwitchesSinceCheckpoint = 0
            stored.pendingCheckpoint = nil
            stored.pendingCheckpointState = nil
        }
    }

    public func release(_ lease: Lease) async throws -> Lease {
        try write(lease, checkingOwner: true, "release", looksWritten: { $0.owner == nil }) { $0.owner = nil }
    }

    public func recordChildShards(_ lease: Lease, _ childShardIDs: Set<String>) async throws -> Lease {
        try write(lease, checkingOwner: false, "record child shards", looksWritten: nil) { $0.childShardIDs = childShardIDs }
    }

    public func delete(_ lease: Lease) async throws {
        guard let current = stored[lease.leaseKey] else {
            throw LeaseStoreError(code: .notFound, leaseKey: lease.leaseKey, message: "could not delete: no such lease")
        }
        guard current.counter == lease.counter else { throw LeaseStoreError.stale(lease, "delete") }
        stored[lease.leaseKey] = nil
    }

    /// A fenced write; a refused one is an earlier attempt's success when `looksWritten` says so
    /// (the rule of `LeaseStore.isEarlierSuccess`).
    private func write(_ lease: Lease, checkingOwner: Bool, _ action: String, looksWritten: ((Lease) -> Bool)? = nil, _ change: (inout Lease) -> Void) throws -> Lease {
        guard var current = stored[lease.leaseKey] else {
            throw LeaseStoreError(code: .notFound, leaseKey: lease.leaseKey, message: "could not \(action): no such lease")
        }
        guard current.counter == lease.counter, !checkingOwner || current.owner == lease.owner else {
            if let looksWritten, Self.isEarlierSuccess(current, of: lease, looksWritten) { return current }
            throw LeaseStoreError.stale(lease, action)
        }
        change(&current)
        current.counter += 1
        stored[lease.leaseKey] = current
        return current
    }
}
