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

    /// Renews a lease its owner holds (fenced on counter and owner). A renew whose earlier attempt
    /// succeeded but whose answer was lost (the stored counter is one more, same owner) succeeds,
    /// as in KCL.
    func renew(_ lease: Lease) async throws -> Lease

    /// Takes the lease for `owner` (fenced on counter); counts an owner switch when the owner changes.
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
    /// The shared rule for a renew that found the lease changed: it is a success when the stored
    /// lease is exactly one renewal ahead under the same owner (an earlier attempt succeeded).
    func recognizeEarlierRenewal(of lease: Lease) async throws -> Lease {
        if let current = try await self.lease(lease.leaseKey), current.owner == lease.owner, current.counter == lease.counter + 1 {
            return current
        }
        throw LeaseStoreError.stale(lease, "renew")
    }
}
