/// Where leases live: the lease table of one application and stream.
///
/// Every write is fenced: it succeeds only if the stored lease still has the ``Lease/counter`` of
/// the lease passed in (and, where noted, its ``Lease/owner``), bumps the counter, and returns the
/// lease as stored. A write that finds a different counter throws ``LeaseStoreError`` with code
/// ``LeaseStoreError/Code/stale`` and changes nothing. Implementations: ``DynamoDBLeaseStore`` (KCL's
/// table format), ``SQLiteLeaseStore`` (one host, several processes), ``InMemoryLeaseStore`` (tests).
///
/// - Important: Implementations are safe to call from many tasks, and never block the cooperative
///   thread pool.
public protocol LeaseStore: Sendable {
    /// Creates the table or file when it is missing. Idempotent.
    func prepare() async throws

    /// Every lease (items that are not leases, such as KCL 3.x's worker metrics, are skipped).
    func leases() async throws -> [Lease]

    /// The lease with this key, or `nil`.
    func lease(_ leaseKey: String) async throws -> Lease?

    /// Stores `lease` unless one with its key exists; returns whether it was created.
    func createIfAbsent(_ lease: Lease) async throws -> Bool

    /// Renews a lease its owner holds (fenced on counter and owner).
    ///
    /// Like ``take(_:owner:)``, ``checkpoint(_:_:)`` and ``release(_:)``, a renew sent again after
    /// its earlier attempt succeeded but its answer was lost (the stored lease is one write ahead
    /// and as this write would leave it) returns that success, as KCL does for renewals.
    func renew(_ lease: Lease) async throws -> Lease

    /// Takes the lease for `owner` (fenced on counter); counts an owner switch when the lease had
    /// another owner (as KCL does: not for a lease nobody held).
    func take(_ lease: Lease, owner: String) async throws -> Lease

    /// Records a checkpoint (fenced on counter and owner); resets the owner switches and clears the
    /// pending checkpoint.
    func checkpoint(_ lease: Lease, _ checkpoint: Checkpoint) async throws -> Lease

    /// Gives the lease up (fenced on counter and owner): the owner is removed, so that another
    /// worker can take it at once.
    func release(_ lease: Lease) async throws -> Lease

    /// Records the shard's children at shard end (fenced on counter).
    func recordChildShards(_ lease: Lease, _ childShardIDs: Set<String>) async throws -> Lease

    /// Deletes a finished lease (fenced on counter).
    func delete(_ lease: Lease) async throws
}

extension LeaseStore {
    /// The shared rule for a write that found the lease changed: it is the success of an earlier
    /// attempt of the same write (retried because its answer was lost) when the stored lease is
    /// exactly one write ahead and looks as this write would have left it. KCL applies this rule to
    /// renewals; it holds for takes, checkpoints and releases too, since owners are unique.
    func recognizeEarlierWrite(of lease: Lease, _ action: String, _ looksWritten: (Lease) -> Bool) async throws -> Lease {
        guard let current = try await self.lease(lease.leaseKey) else {
            throw LeaseStoreError(code: .notFound, leaseKey: lease.leaseKey, message: "could not \(action): no such lease")
        }
        if Self.isEarlierSuccess(current, of: lease, looksWritten) {
            return current
        }
        throw LeaseStoreError.stale(lease, action)
    }

    /// The rule itself: one write ahead of `lease`, and as the write would have left it.
    static func isEarlierSuccess(_ current: Lease, of lease: Lease, _ looksWritten: (Lease) -> Bool) -> Bool {
        current.counter == lease.counter + 1 && looksWritten(current)
    }

    /// Runs a renew, take, checkpoint or release; when it is refused as stale, applies
    /// `recognizeEarlierWrite`.
    func writeRecognizingRetry(_ lease: Lease, _ action: String, looksWritten: (Lease) -> Bool, _ write: () async throws -> Lease) async throws -> Lease {
        do {
            return try await write()
        } catch let error as LeaseStoreError where error.code == .stale {
            return try await recognizeEarlierWrite(of: lease, action, looksWritten)
        }
    }

    /// KCL's rule: a take counts an owner switch only when the lease had another owner.
    static func ownerSwitches(afterTaking lease: Lease, by owner: String) -> Int64 {
        if let previous = lease.owner, previous != owner {
            return lease.ownerSwitchesSinceCheckpoint + 1
        }
        return lease.ownerSwitchesSinceCheckpoint
    }
}

/// The checks every store makes of a write's arguments (programming errors, not data).
enum LeaseWritePreconditions {
    static func check(owner: String) {
        precondition(!owner.isEmpty, "a lease owner is never empty: KCL tables index leaseOwner")
    }
}
