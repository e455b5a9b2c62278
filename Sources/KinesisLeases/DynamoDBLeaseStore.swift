import AWSCore
public import DynamoDBAPI
import KinesisAPI

/// Leases in a DynamoDB table in KCL's format, so that a Samza (KCL 1.x) or KCL 2.x/3.x
/// application can move here, and back, with its checkpoints.
///
/// Attributes, as KCL names and types them: `leaseKey` (S, the hash key), `leaseOwner` (S, absent
/// when unowned), `leaseCounter` (N), `ownerSwitchesSinceCheckpoint` (N), `checkpoint` (S),
/// `checkpointSubSequenceNumber` (N), `pendingCheckpoint` / `pendingCheckpointSubSequenceNumber` /
/// `pendingCheckpointState` (read and preserved), `parentShardId` (SS, omitted when empty),
/// `childShardIds` (SS), `startingHashKey` / `endingHashKey` (S, decimal). Writes are `UpdateItem`s
/// of the attributes they change, so attributes this library does not know are preserved. Items
/// whose `entityType` is present and not `LEASE` are skipped by reads and excluded by every write's
/// condition, so they are never modified or deleted.
public struct DynamoDBLeaseStore: LeaseStore {
    public let dynamoDB: DynamoDBClient
    public let tableName: String
    /// How the table is billed when ``prepare()`` creates it.
    public let billing: DynamoDBClient.BillingMode

    public init(dynamoDB: DynamoDBClient, tableName: String, billing: DynamoDBClient.BillingMode = .payPerRequest) {
        self.dynamoDB = dynamoDB
        self.tableName = tableName
        self.billing = billing
    }

    enum Attribute {
        static let leaseKey = "leaseKey", leaseOwner = "leaseOwner", leaseCounter = "leaseCounter"
        static let ownerSwitches = "ownerSwitchesSinceCheckpoint", checkpoint = "checkpoint"
        static let checkpointSub = "checkpointSubSequenceNumber", pendingCheckpoint = "pendingCheckpoint"
        static let pendingCheckpointSub = "pendingCheckpointSubSequenceNumber", pendingCheckpointState = "pendingCheckpointState"
        static let parentShardID = "parentShardId", childShardIDs = "childShardIds"
        static let startingHashKey = "startingHashKey", endingHashKey = "endingHashKey", entityType = "entityType"
        /// KCL 3.x: the worker handing a lease over gracefully.
        static let checkpointOwner = "checkpointOwner"
    }

    public func prepare() async throws {
        try await storeCall(nil) {
            if let table = try await dynamoDB.describeTable(tableName) {
                guard table.keySchema.count == 1, table.keySchema[0].attributeName == Attribute.leaseKey, table.keySchema[0].keyType == "HASH" else {
                    throw LeaseStoreError(code: .malformed, leaseKey: nil, message: "table \(tableName) exists but its key is not the hash key leaseKey alone: it is not a lease table")
                }
                if table.tableStatus != "ACTIVE" { _ = try await dynamoDB.waitUntilActive(tableName) }
                return
            }
            do {
                try await dynamoDB.createTable(tableName, hashKey: Attribute.leaseKey, billing: billing)
            } catch let error as AWSError where error.code == .resourceInUse {
                // Another worker created it first.
            }
            _ = try await dynamoDB.waitUntilActive(tableName)
        }
    }

    public func leases() async throws -> [Lease] {
        let items = try await storeCall(nil) { try await dynamoDB.scan(tableName) }
        return try items.filter(Self.isLease).map(Self.lease(from:)).sorted { $0.leaseKey < $1.leaseKey }
    }

    public func lease(_ leaseKey: String) async throws -> Lease? {
        let item = try await storeCall(leaseKey) { try await dynamoDB.getItem(tableName, key: key(leaseKey)) }
        guard let item, Self.isLease(item) else { return nil }
        return try Self.lease(from: item)
    }

    public func createIfAbsent(_ lease: Lease) async throws -> Bool {
        do {
            try await dynamoDB.putItem(tableName, item: Self.item(from: lease), condition: .init("attribute_not_exists(#key)", names: ["#key": Attribute.leaseKey]))
            return true
        } catch let error as AWSError where error.code == .conditionalCheckFailed {
            return false
        } catch {
            throw Self.failure(error, lease.leaseKey, "create")
        }
    }

    public func renew(_ lease: Lease) async throws -> Lease {
        try await writeRecognizingRetry(lease, "renew", looksWritten: { $0.owner == lease.owner }) {
            try await update(lease, checkingOwner: true, "renew", set: [:])
        }
    }

    public func take(_ lease: Lease, owner: String) async throws -> Lease {
        LeaseWritePreconditions.check(owner: owner)
        let set: [String: AttributeValue] = [
            Attribute.leaseOwner: .string(owner),
            Attribute.ownerSwitches: .number(Self.ownerSwitches(afterTaking: lease, by: owner)),
        ]
        // KCL 3.x clears a graceful handoff's `checkpointOwner` on every take and eviction.
        return try await writeRecognizingRetry(lease, "take", looksWritten: { $0.owner == owner }) {
            try await update(lease, checkingOwner: false, "take", set: set, remove: [Attribute.checkpointOwner])
        }
    }

    public func checkpoint(_ lease: Lease, _ checkpoint: Checkpoint) async throws -> Lease {
        try await writeRecognizingRetry(lease, "checkpoint", looksWritten: { $0.owner == lease.owner && $0.checkpoint == checkpoint }) {
            try await update(lease, checkingOwner: true, "checkpoint", set: [
                Attribute.checkpoint: .string(checkpoint.value),
                Attribute.checkpointSub: .number(checkpoint.subSequenceNumber),
                Attribute.ownerSwitches: .number(0),
            ], remove: [Attribute.pendingCheckpoint, Attribute.pendingCheckpointSub, Attribute.pendingCheckpointState])
        }
    }

    public func release(_ lease: Lease) async throws -> Lease {
        try await writeRecognizingRetry(lease, "release", looksWritten: { $0.owner == nil }) {
            try await update(lease, checkingOwner: true, "release", set: [:], remove: [Attribute.leaseOwner, Attribute.checkpointOwner])
        }
    }

    public func recordChildShards(_ lease: Lease, _ childShardIDs: Set<String>) async throws -> Lease {
        if childShardIDs.isEmpty {
            return try await update(lease, checkingOwner: false, "record child shards", set: [:], remove: [Attribute.childShardIDs])
        }
        return try await update(lease, checkingOwner: false, "record child shards", set: [Attribute.childShardIDs: .stringSet(childShardIDs.sorted())])
    }

    public func delete(_ lease: Lease) async throws {
        let (condition, names, values) = fence(lease, checkingOwner: false)
        do {
            try await dynamoDB.deleteItem(tableName, key: key(lease.leaseKey), condition: .init(condition, names: names, values: values))
        } catch let error as AWSError where error.code == .conditionalCheckFailed {
            throw try await missingOrStale(lease, "delete")
        } catch {
            throw Self.failure(error, lease.leaseKey, "delete")
        }
    }

    /// Why a conditional write was refused: the lease is gone (or is not a lease), or it changed.
    private func missingOrStale(_ lease: Lease, _ action: String) async throws -> LeaseStoreError {
        guard try await self.lease(lease.leaseKey) != nil else {
            return LeaseStoreError(code: .notFound, leaseKey: lease.leaseKey, message: "could not \(action): no such lease")
        }
        return .stale(lease, action)
    }

    // MARK: Writing

    private func key(_ leaseKey: String) -> Item { [Attribute.leaseKey: .string(leaseKey)] }

    /// The condition every write carries: the counter (and owner) last seen, and not another entity.
    private func fence(_ lease: Lease, checkingOwner: Bool) -> (String, [String: String], [String: AttributeValue]) {
        var condition = "#counter = :expectedCounter AND (attribute_not_exists(#entityType) OR #entityType = :leaseEntity)"
        var names = ["#counter": Attribute.leaseCounter, "#entityType": Attribute.entityType]
        var values: [String: AttributeValue] = [":expectedCounter": .number(lease.counter), ":leaseEntity": .string("LEASE")]
        if checkingOwner {
            names["#owner"] = Attribute.leaseOwner
            if let owner = lease.owner {
                condition += " AND #owner = :expectedOwner"
                values[":expectedOwner"] = .string(owner)
            } else {
                condition += " AND attribute_not_exists(#owner)"
            }
        }
        return (condition, names, values)
    }

    /// Sets `set`, removes `remove`, bumps the counter; fenced.
    private func update(_ lease: Lease, checkingOwner: Bool, _ action: String, set: [String: AttributeValue], remove: [String] = []) async throws -> Lease {
        var (condition, names, values) = fence(lease, checkingOwner: checkingOwner)
        var assignments = ["#counter = :nextCounter"]
        values[":nextCounter"] = .number(lease.counter + 1)
        for (index, (name, value)) in set.sorted(by: { $0.key < $1.key }).enumerated() {
            names["#set\(index)"] = name
            values[":set\(index)"] = value
            assignments.append("#set\(index) = :set\(index)")
        }
        var text = "SET " + assignments.joined(separator: ", ")
        if !remove.isEmpty {
            for (index, name) in remove.enumerated() { names["#remove\(index)"] = name }
            text += " REMOVE " + remove.indices.map { "#remove\($0)" }.joined(separator: ", ")
        }
        do {
            let item = try await dynamoDB.updateItem(
                tableName, key: key(lease.leaseKey),
                update: .init(text, names: names, values: values),
                condition: .init(condition)
            )
            return try Self.lease(from: item)
        } catch let error as AWSError where error.code == .conditionalCheckFailed {
            throw try await missingOrStale(lease, action)
        } catch let error as LeaseStoreError {
            throw error
        } catch {
            throw Self.failure(error, lease.leaseKey, action)
        }
    }

    private func storeCall<T>(_ leaseKey: String?, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as LeaseStoreError {
            throw error
        } catch {
            throw Self.failure(error, leaseKey, "read")
        }
    }

    static func failure(_ error: any Error, _ leaseKey: String?, _ action: String) -> any Error {
        if error is CancellationError { return error }
        return LeaseStoreError(code: .storeFailure, leaseKey: leaseKey, message: "could not \(action) in DynamoDB", underlying: error)
    }

    // MARK: Items

    static func isLease(_ item: Item) -> Bool {
        guard let entity = item[Attribute.entityType] else { return true }
        return entity.stringValue == "LEASE"
    }

    /// A lease's item in KCL's layout.
    static func item(from lease: Lease) -> Item {
        var item: Item = [
            Attribute.leaseKey: .string(lease.leaseKey),
            Attribute.leaseCounter: .number(lease.counter),
            Attribute.ownerSwitches: .number(lease.ownerSwitchesSinceCheckpoint),
            Attribute.checkpoint: .string(lease.checkpoint.value),
            Attribute.checkpointSub: .number(lease.checkpoint.subSequenceNumber),
        ]
        if let owner = lease.owner { item[Attribute.leaseOwner] = .string(owner) }
        if let pending = lease.pendingCheckpoint {
            item[Attribute.pendingCheckpoint] = .string(pending.value)
            item[Attribute.pendingCheckpointSub] = .number(pending.subSequenceNumber)
        }
        if let state = lease.pendingCheckpointState { item[Attribute.pendingCheckpointState] = .binary(state) }
        if !lease.parentShardIDs.isEmpty { item[Attribute.parentShardID] = .stringSet(lease.parentShardIDs.sorted()) }
        if !lease.childShardIDs.isEmpty { item[Attribute.childShardIDs] = .stringSet(lease.childShardIDs.sorted()) }
        if let range = lease.hashKeyRange {
            item[Attribute.startingHashKey] = .string(range.startingHashKey.description)
            item[Attribute.endingHashKey] = .string(range.endingHashKey.description)
        }
        return item
    }

    /// Reads a KCL 1.x, 2.x or 3.x lease item.
    static func lease(from item: Item) throws -> Lease {
        guard let key = item[Attribute.leaseKey]?.stringValue else {
            throw LeaseStoreError(code: .malformed, leaseKey: nil, message: "an item has no string leaseKey")
        }
        func malformed(_ message: String) -> LeaseStoreError {
            LeaseStoreError(code: .malformed, leaseKey: key, message: message)
        }
        func number(_ name: String, default value: Int64? = nil) throws -> Int64 {
            guard let attribute = item[name] else {
                guard let value else { throw malformed("it has no \(name)") }
                return value
            }
            guard let number = attribute.int64Value else { throw malformed("\(name) is not an integer number") }
            return number
        }
        func checkpoint(_ name: String, _ subName: String) throws -> Checkpoint? {
            guard let attribute = item[name] else { return nil }
            guard let text = attribute.stringValue else { throw malformed("\(name) is not a string") }
            let sub = try number(subName, default: 0)
            guard sub >= 0, let value = Checkpoint(storedValue: text, subSequenceNumber: UInt64(sub)) else {
                throw malformed("\(name) '\(text.prefix(60))' is neither a sequence number nor TRIM_HORIZON, LATEST, AT_TIMESTAMP or SHARD_END")
            }
            return value
        }
        func stringSet(_ name: String) throws -> Set<String> {
            guard let attribute = item[name] else { return [] }
            if let values = attribute.stringSetValue { return Set(values) }
            if let value = attribute.stringValue { return [value] }
            throw malformed("\(name) is not a string set")
        }
        var range: HashKeyRange?
        if let start = item[Attribute.startingHashKey]?.stringValue, let end = item[Attribute.endingHashKey]?.stringValue {
            guard let low = HashKey.parse(start), let high = HashKey.parse(end) else { throw malformed("its hash keys are not decimal numbers below 2^128") }
            range = HashKeyRange(startingHashKey: low, endingHashKey: high)
        }
        var state: [UInt8]?
        if case .binary(let bytes)? = item[Attribute.pendingCheckpointState] { state = bytes }
        return Lease(
            leaseKey: key,
            owner: item[Attribute.leaseOwner]?.stringValue,
            counter: try number(Attribute.leaseCounter),
            ownerSwitchesSinceCheckpoint: try number(Attribute.ownerSwitches, default: 0),
            checkpoint: try checkpoint(Attribute.checkpoint, Attribute.checkpointSub) ?? .trimHorizon,
            pendingCheckpoint: try checkpoint(Attribute.pendingCheckpoint, Attribute.pendingCheckpointSub),
            pendingCheckpointState: state,
            parentShardIDs: try stringSet(Attribute.parentShardID),
            childShardIDs: try stringSet(Attribute.childShardIDs),
            hashKeyRange: range
        )
    }
}
