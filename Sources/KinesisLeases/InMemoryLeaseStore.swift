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
        do {
            return try write(lease, checkingOwner: true, "renew") { _ in }
        } catch let error as LeaseStoreError where error.code == .stale {
            return try await recognizeEarlierRenewal(of: lease)
        }
    }

    public func take(_ lease: Lease, owner: String) async throws -> Lease {
        try write(lease, checkingOwner: false, "take") { stored in
            if stored.owner != owner { stored.ownerSwitchesSinceCheckpoint += 1 }
            stored.owner = owner
        }
    }

    public func checkpoint(_ lease: Lease, _ checkpoint: Checkpoint) async throws -> Lease {
        try write(lease, checkingOwner: true, "checkpoint") { stored in
            stored.checkpoint = checkpoint
            stored.ownerSwitchesSinceCheckpoint = 0
            stored.pendingCheckpoint = nil
            stored.pendingCheckpointState = nil
        }
    }

    public func release(_ lease: Lease) async throws -> Lease {
        try write(lease, checkingOwner: true, "release") { $0.owner = nil }
    }

    public func recordChildShards(_ lease: Lease, _ childShardIDs: Set<String>) async throws -> Lease {
        try write(lease, checkingOwner: false, "record child shards") { $0.childShardIDs = childShardIDs }
    }

    public func delete(_ lease: Lease) async throws {
        guard let current = stored[lease.leaseKey] else {
            throw LeaseStoreError(code: .notFound, leaseKey: lease.leaseKey, message: "could not delete: no such lease")
        }
        guard current.counter == lease.counter else { throw LeaseStoreError.stale(lease, "delete") }
        stored[lease.leaseKey] = nil
    }

    private func write(_ lease: Lease, checkingOwner: Bool, _ action: String, _ change: (inout Lease) -> Void) throws -> Lease {
        guard var current = stored[lease.leaseKey] else {
            throw LeaseStoreError(code: .notFound, leaseKey: lease.leaseKey, message: "could not \(action): no such lease")
        }
        guard current.counter == lease.counter, !checkingOwner || current.owner == lease.owner else {
            throw LeaseStoreError.stale(lease, action)
        }
        change(&current)
        current.counter += 1
        stored[lease.leaseKey] = current
        return current
    }
}
