import AWSCore
import DynamoDBAPI
import Foundation
import KinesisAPI
import KinesisLeases
import Testing

/// The DynamoDB lease table in KCL's layout, checked with boto3 as the independent client: items
/// written the way KCL 1.x (Samza) and KCL 2.x/3.x write them are read correctly; items written here
/// have exactly KCL's attribute names and types; other entities in the table are never touched.
@Suite struct KCLTableCompatibilityTests {
    func store() async throws -> DynamoDBLeaseStore {
        let store = DynamoDBLeaseStore(dynamoDB: try await Moto.dynamoDB(), tableName: "kcl-\(UUID().uuidString.prefix(8))")
        try await store.prepare()
        return store
    }

    static let sequence = "49590338271490256608559692538361571095921575989136588898"

    @Test func readsKCL1xItems() async throws {
        let store = try await store()
        // The seven attributes KCL 1.x (as used by Samza) writes.
        _ = try await Boto3.run("""
            dynamodb.put_item(TableName=table, Item={
                "leaseKey": {"S": "shardId-000000000001"}, "leaseOwner": {"S": "samza-worker-1"},
                "leaseCounter": {"N": "42"}, "ownerSwitchesSinceCheckpoint": {"N": "3"},
                "checkpoint": {"S": "\(Self.sequence)"}, "checkpointSubSequenceNumber": {"N": "5"},
                "parentShardId": {"SS": ["shardId-000000000000"]}})
            dynamodb.put_item(TableName=table, Item={
                "leaseKey": {"S": "shardId-000000000002"}, "leaseCounter": {"N": "0"},
                "ownerSwitchesSinceCheckpoint": {"N": "0"}, "checkpoint": {"S": "TRIM_HORIZON"}, "checkpointSubSequenceNumber": {"N": "0"}})
            """, table: store.tableName)
        let leases = try await store.leases()
        #expect(leases.count == 2)
        #expect(leases[0] == Lease(
            leaseKey: "shardId-000000000001", owner: "samza-worker-1", counter: 42, ownerSwitchesSinceCheckpoint: 3,
            checkpoint: .at(SequenceNumber(Self.sequence)!, subSequenceNumber: 5), parentShardIDs: ["shardId-000000000000"]
        ))
        #expect(leases[1] == Lease(leaseKey: "shardId-000000000002", checkpoint: .trimHorizon))
    }

    @Test func readsAndPreservesKCL2xItems() async throws {
        let store = try await store()
        _ = try await Boto3.run("""
            dynamodb.put_item(TableName=table, Item={
                "leaseKey": {"S": "shardId-000000000003"}, "leaseOwner": {"S": "kcl2-worker"},
                "leaseCounter": {"N": "7"}, "ownerSwitchesSinceCheckpoint": {"N": "1"},
                "checkpoint": {"S": "SHARD_END"}, "checkpointSubSequenceNumber": {"N": "0"},
                "pendingCheckpoint": {"S": "\(Self.sequence)"}, "pendingCheckpointSubSequenceNumber": {"N": "2"},
                "pendingCheckpointState": {"B": b"state"},
                "parentShardId": {"SS": ["shardId-000000000001", "shardId-000000000002"]},
                "childShardIds": {"SS": ["shardId-000000000005"]},
                "startingHashKey": {"S": "0"}, "endingHashKey": {"S": "340282366920938463463374607431768211455"},
                "throughputKBps": {"N": "12.5"}, "checkpointOwner": {"S": "kcl3-handoff"}})
            """, table: store.tableName)
        let lease = try #require(try await store.lease("shardId-000000000003"))
        #expect(lease.owner == "kcl2-worker")
        #expect(lease.counter == 7)
        #expect(lease.checkpoint == .shardEnd)
        #expect(lease.pendingCheckpoint == .at(SequenceNumber(Self.sequence)!, subSequenceNumber: 2))
        #expect(lease.pendingCheckpointState == Array("state".utf8))
        #expect(lease.parentShardIDs == ["shardId-000000000001", "shardId-000000000002"])
        #expect(lease.childShardIDs == ["shardId-000000000005"])
        #expect(lease.hashKeyRange == HashKeyRange(startingHashKey: 0, endingHashKey: UInt128.max))

        // Our writes keep the attributes we do not know.
        let taken = try await store.take(lease, owner: "swift-worker")
        _ = try await store.renew(taken)
        let raw = try await Boto3.run("print(json.dumps(raw('shardId-000000000003'), default=str))", table: store.tableName)
        #expect(raw.contains(#""throughputKBps": {"N": "12.5"}"#))
        // ... except KCL 3.x's handoff marker, which KCL itself clears on every take and eviction.
        #expect(!raw.contains("checkpointOwner"))
        #expect(raw.contains(#""leaseOwner": {"S": "swift-worker"}"#))
        #expect(raw.contains(#""leaseCounter": {"N": "9"}"#))
    }

    @Test func itemsWrittenHereHaveKCLsNamesAndTypes() async throws {
        let store = try await store()
        var lease = Lease(leaseKey: "shardId-000000000009", parentShardIDs: ["shardId-000000000007", "shardId-000000000008"], hashKeyRange: HashKeyRange(startingHashKey: 5, endingHashKey: 10))
        _ = try await store.createIfAbsent(lease)
        // Unowned: no leaseOwner attribute at all (never an empty string).
        let unowned = try await Boto3.run("print(json.dumps(raw('shardId-000000000009'), sort_keys=True))", table: store.tableName)
        let expected = #"{"checkpoint": {"S": "TRIM_HORIZON"}, "checkpointSubSequenceNumber": {"N": "0"}, "endingHashKey": {"S": "10"}, "leaseCounter": {"N": "0"}, "leaseKey": {"S": "shardId-000000000009"}, "ownerSwitchesSinceCheckpoint": {"N": "0"}, "parentShardId": {"SS": ["shardId-000000000007", "shardId-000000000008"]}, "startingHashKey": {"S": "5"}}"#
        #expect(unowned.trimmingCharacters(in: .whitespacesAndNewlines) == expected)

        lease = try await store.take(lease, owner: "swift-worker")
        lease = try await store.checkpoint(lease, .at(SequenceNumber(Self.sequence)!, subSequenceNumber: 4))
        lease = try await store.recordChildShards(lease, ["shardId-000000000010"])
        let types = try await Boto3.run("""
            item = raw('shardId-000000000009')
            print(json.dumps({name: list(value.keys())[0] for name, value in item.items()}, sort_keys=True))
            print(item["checkpoint"]["S"], item["checkpointSubSequenceNumber"]["N"], item["leaseOwner"]["S"], item["leaseCounter"]["N"])
            """, table: store.tableName).split(separator: "\n")
        #expect(types[0] == #"{"checkpoint": "S", "checkpointSubSequenceNumber": "N", "childShardIds": "SS", "endingHashKey": "S", "leaseCounter": "N", "leaseKey": "S", "leaseOwner": "S", "ownerSwitchesSinceCheckpoint": "N", "parentShardId": "SS", "startingHashKey": "S"}"#)
        #expect(types[1] == "\(Self.sequence) 4 swift-worker 3")

        lease = try await store.release(lease)
        let released = try await Boto3.run("print('leaseOwner' in raw('shardId-000000000009'))", table: store.tableName)
        #expect(released.trimmingCharacters(in: .whitespacesAndNewlines) == "False")
    }

    @Test func otherEntitiesAreSkippedAndNeverTouched() async throws {
        let store = try await store()
        _ = try await Boto3.run("""
            dynamodb.put_item(TableName=table, Item={
                "leaseKey": {"S": "worker-metrics-1"}, "entityType": {"S": "WORKER_METRICS_STATS"},
                "leaseCounter": {"N": "5"}, "checkpoint": {"S": "TRIM_HORIZON"}, "payload": {"S": "keep me"}})
            dynamodb.put_item(TableName=table, Item={
                "leaseKey": {"S": "shardId-000000000001"}, "entityType": {"S": "LEASE"},
                "leaseCounter": {"N": "1"}, "checkpoint": {"S": "LATEST"}, "checkpointSubSequenceNumber": {"N": "0"}})
            """, table: store.tableName)
        let before = try await Boto3.run("print(json.dumps(raw('worker-metrics-1'), sort_keys=True))", table: store.tableName)
        #expect(try await store.leases().map(\.leaseKey) == ["shardId-000000000001"], "a LEASE entity is a lease; others are skipped")
        #expect(try await store.lease("worker-metrics-1") == nil)
        // Even a write aimed at it with the right counter is refused, and a delete too.
        let impostor = Lease(leaseKey: "worker-metrics-1", counter: 5)
        let error = await #expect(throws: LeaseStoreError.self) { _ = try await store.take(impostor, owner: "w") }
        #expect(error?.code == .notFound, "another entity is no lease")
        _ = await #expect(throws: LeaseStoreError.self) { try await store.delete(impostor) }
        #expect(try await !store.createIfAbsent(impostor))
        let after = try await Boto3.run("print(json.dumps(raw('worker-metrics-1'), sort_keys=True))", table: store.tableName)
        #expect(after == before)
    }
}
