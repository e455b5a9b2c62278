import KinesisAPI

/// Leases in one SQLite file: the embedded store for one host.
///
/// WAL mode, a busy timeout, and every fenced write a single `UPDATE ... WHERE counter = ?`
/// statement, so that several consumer processes on the same host can share the file safely.
/// SQLite runs on a queue of the store's own, never on the cooperative thread pool.
public final class SQLiteLeaseStore: LeaseStore {
    /// The database file.
    public let path: String
    private let connection: SQLiteConnection

    /// Opens (creating if missing) the file at `path`.
    /// - Parameter busyTimeout: How long a write waits for another process's lock.
    public init(path: String, busyTimeout: Duration = .seconds(10)) async throws {
        self.path = path
        do {
            self.connection = try await SQLiteConnection.open(path: path, busyTimeout: busyTimeout)
        } catch {
            throw LeaseStoreError(code: .storeFailure, leaseKey: nil, message: "could not open the lease store", underlying: error)
        }
    }

    static let columns = "lease_key, owner, counter, owner_switches, checkpoint, checkpoint_sub, pending_checkpoint, pending_checkpoint_sub, pending_checkpoint_state, parent_shard_ids, child_shard_ids, starting_hash_key, ending_hash_key"

    public func prepare() async throws {
        _ = try await call(nil, "create the leases table") { connection in
            try connection.execute("""
                CREATE TABLE IF NOT EXISTS leases (
                    lease_key TEXT PRIMARY KEY NOT NULL,
                    owner TEXT,
                    counter INTEGER NOT NULL,
                    owner_switches INTEGER NOT NULL,
                    checkpoint TEXT NOT NULL,
                    checkpoint_sub INTEGER NOT NULL,
                    pending_checkpoint TEXT,
                    pending_checkpoint_sub INTEGER,
                    pending_checkpoint_state BLOB,
                    parent_shard_ids TEXT NOT NULL,
                    child_shard_ids TEXT NOT NULL,
                    starting_hash_key TEXT,
                    ending_hash_key TEXT
                )
                """)
        }
    }

    public func leases() async throws -> [Lease] {
        let rows = try await call(nil, "read the leases") { try $0.execute("SELECT \(Self.columns) FROM leases ORDER BY lease_key") }
        return try rows.map(Self.lease(from:))
    }

    public func lease(_ leaseKey: String) async throws -> Lease? {
        let rows = try await call(leaseKey, "read the lease") { try $0.execute("SELECT \(Self.columns) FROM leases WHERE lease_key = ?", [.text(leaseKey)]) }
        return try rows.first.map(Self.lease(from:))
    }

    public func createIfAbsent(_ lease: Lease) async throws -> Bool {
        let values = Self.values(of: lease)
        let rows = try await call(lease.leaseKey, "create the lease") { connection in
            try connection.execute("INSERT INTO leases (\(Self.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(lease_key) DO NOTHING RETURNING lease_key", values)
        }
        return !rows.isEmpty
    }

    public func renew(_ lease: Lease) async throws -> Lease {
        try await writeRecognizingRetry(lease, "renew", looksWritten: { $0.owner == lease.owner }) {
            try await update(lease, checkingOwner: true, "renew", set: "", [])
        }
    }

    public func take(_ lease: Lease, owner: String) async throws -> Lease {
        LeaseWritePreconditions.check(owner: owner)
        let switches = Self.ownerSwitches(afterTaking: lease, by: owner)
        return try await writeRecognizingRetry(lease, "take", looksWritten: { $0.owner == owner }) {
            try await update(lease, checkingOwner: false, "take", set: "owner = ?, owner_switches = ?,", [.text(owner), .integer(switches)])
        }
    }

    public func checkpoint(_ lease: Lease, _ checkpoint: Checkpoint) async throws -> Lease {
        try await writeRecognizingRetry(lease, "checkpoint", looksWritten: { $0.owner == lease.owner && $0.checkpoint == checkpoint }) {
            try await update(
                lease, checkingOwner: true, "checkpoint",
                set: "checkpoint = ?, checkpoint_sub = ?, owner_switches = 0, pending_checkpoint = NULL, pending_checkpoint_sub = NULL, pending_checkpoint_state = NULL,",
                [.text(checkpoint.value), .integer(Int64(checkpoint.subSequenceNumber))]
            )
        }
    }

    public func release(_ lease: Lease) async throws -> Lease {
        try await writeRecognizingRetry(lease, "release", looksWritten: { $0.owner == nil }) {
            try await update(lease, checkingOwner: true, "release", set: "owner = NULL,", [])
        }
    }

    public func recordChildShards(_ lease: Lease, _ childShardIDs: Set<String>) async throws -> Lease {
        try await update(lease, checkingOwner: false, "record child shards", set: "child_shard_ids = ?,", [.text(Self.encode(childShardIDs))])
    }

    public func delete(_ lease: Lease) async throws {
        let rows = try await call(lease.leaseKey, "delete the lease") { connection in
            try connection.execute("DELETE FROM leases WHERE lease_key = ? AND counter = ? RETURNING lease_key", [.text(lease.leaseKey), .integer(lease.counter)])
        }
        guard !rows.isEmpty else { throw try await missingOrStale(lease, "delete") }
    }



    // MARK: Helpers

    /// One fenced `UPDATE`: `set` (each assignment followed by a comma), then the counter bump.
    private func update(_ lease: Lease, checkingOwner: Bool, _ action: String, set: String, _ bindings: [SQLiteValue]) async throws -> Lease {
        var sql = "UPDATE leases SET \(set) counter = counter + 1 WHERE lease_key = ? AND counter = ?"
        var values = bindings + [.text(lease.leaseKey), .integer(lease.counter)]
        if checkingOwner {
            sql += " AND owner IS ?"
            values.append(lease.owner.map { .text($0) } ?? .null)
        }
        sql += " RETURNING \(Self.columns)"
        let rows = try await call(lease.leaseKey, action) { [sql, values] connection in try connection.execute(sql, values) }
        guard let row = rows.first else { throw try await missingOrStale(lease, action) }
        return try Self.lease(from: row)
    }

    private func missingOrStale(_ lease: Lease, _ action: String) async throws -> LeaseStoreError {
        guard try await self.lease(lease.leaseKey) != nil else {
            return LeaseStoreError(code: .notFound, leaseKey: lease.leaseKey, message: "could not \(action): no such lease")
        }
        return .stale(lease, action)
    }

    private func call<T: Sendable>(_ leaseKey: String?, _ action: String, _ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        do {
            return try await connection.run(body)
        } catch {
            throw LeaseStoreError(code: .storeFailure, leaseKey: leaseKey, message: "could not \(action) in \(path)", underlying: error)
        }
    }

    /// Shard IDs have no newline: a set is stored as its sorted members, one a line.
    static func encode(_ ids: Set<String>) -> String { ids.sorted().joined(separator: "\n") }
    static func decode(_ text: String?) -> Set<String> {
        guard let text, !text.isEmpty else { return [] }
        return Set(text.split(separator: "\n").map(String.init))
    }

    static func values(of lease: Lease) -> [SQLiteValue] {
        [
            .text(lease.leaseKey), lease.owner.map { .text($0) } ?? .null, .integer(lease.counter), .integer(lease.ownerSwitchesSinceCheckpoint),
            .text(lease.checkpoint.value), .integer(Int64(lease.checkpoint.subSequenceNumber)),
            lease.pendingCheckpoint.map { .text($0.value) } ?? .null, lease.pendingCheckpoint.map { .integer(Int64($0.subSequenceNumber)) } ?? .null,
            lease.pendingCheckpointState.map { .blob($0) } ?? .null,
            .text(encode(lease.parentShardIDs)), .text(encode(lease.childShardIDs)),
            lease.hashKeyRange.map { .text($0.startingHashKey.description) } ?? .null, lease.hashKeyRange.map { .text($0.endingHashKey.description) } ?? .null,
        ]
    }

    static func lease(from row: [SQLiteValue]) throws -> Lease {
        guard row.count == 13, let key = row[0].text, let counter = row[2].integer, let switches = row[3].integer,
            let checkpointText = row[4].text, let sub = row[5].integer
        else { throw LeaseStoreError(code: .malformed, leaseKey: row.first?.text, message: "a row of the leases table is malformed") }
        guard let checkpoint = Checkpoint(storedValue: checkpointText, subSequenceNumber: UInt64(max(0, sub))) else {
            throw LeaseStoreError(code: .malformed, leaseKey: key, message: "checkpoint '\(checkpointText.prefix(60))' is neither a sequence number nor a sentinel")
        }
        var pending: Checkpoint?
        if let text = row[6].text { pending = Checkpoint(storedValue: text, subSequenceNumber: UInt64(max(0, row[7].integer ?? 0))) }
        var state: [UInt8]?
        if case .blob(let bytes) = row[8] { state = bytes }
        var range: HashKeyRange?
        if let start = row[11].text.flatMap(HashKey.parse), let end = row[12].text.flatMap(HashKey.parse) {
            range = HashKeyRange(startingHashKey: start, endingHashKey: end)
        }
        return Lease(
            leaseKey: key, owner: row[1].text, counter: counter, ownerSwitchesSinceCheckpoint: switches, checkpoint: checkpoint,
            pendingCheckpoint: pending, pendingCheckpointState: state,
            parentShardIDs: decode(row[9].text), childShardIDs: decode(row[10].text), hashKeyRange: range
        )
    }
}
