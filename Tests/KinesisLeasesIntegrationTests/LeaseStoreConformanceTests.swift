import AWSCore
import DynamoDBAPI
import Foundation
import KinesisAPI
import KinesisLeases
import Testing

/// The kinds of store the conformance suite runs against.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible {
    case inMemory, sqlite, dynamoDB
    var testDescription: String { rawValue }

    func make() async throws -> any LeaseStore {
        let store: any LeaseStore
        switch self {
        case .inMemory:
            store = InMemoryLeaseStore()
        case .sqlite:
            store = try await SQLiteLeaseStore(path: FileManager.default.temporaryDirectory.appendingPathComponent("leases-\(UUID().uuidString).sqlite").path)
        case .dynamoDB:
            store = DynamoDBLeaseStore(dynamoDB: try await Moto.dynamoDB(), tableName: "conformance-\(UUID().uuidString.prefix(8))")
        }
        try await store.prepare()
        return store
    }
}

enum Moto {
    static func endpoint() throws -> String {
        try #require(ProcessInfo.processInfo.environment["KINESIS_TEST_MOTO_ENDPOINT"], "KINESIS_TEST_MOTO_ENDPOINT is not set: run the tests with scripts/test, which starts the moto server")
    }

    static func dynamoDB() async throws -> DynamoDBClient {
        var configuration = AWSConfiguration(region: .usEast1, endpoint: try endpoint(), credentialProvider: StaticCredentialProvider.static(accessKeyID: "AKIDTEST", secretAccessKey: "test-secret"))
        configuration.environment = AWSEnvironment([:])
        return try await DynamoDBClient(configuration: configuration)
    }
}

/// One suite, three stores: the semantics every `LeaseStore` must share.
@Suite struct LeaseStoreConformanceTests {
    static let sequence = SequenceNumber("49590338271490256608559692538361571095921575989136588898")!

    static func fresh(_ key: String = "shardId-000000000001") -> Lease {
        Lease(leaseKey: key, checkpoint: .trimHorizon, parentShardIDs: ["shardId-000000000000"], hashKeyRange: HashKeyRange(startingHashKey: 0, endingHashKey: UInt128.max >> 1))
    }

    func expectStale(_ body: () async throws -> Void) async {
        let error = await #expect(throws: LeaseStoreError.self) { try await body() }
        #expect(error?.code == .stale, "\(String(describing: error))")
    }

    @Test(arguments: StoreKind.allCases)
    func createIfAbsentListAndRead(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        #expect(try await store.createIfAbsent(Self.fresh()))
        #expect(try await !store.createIfAbsent(Self.fresh()), "a second create changes nothing")
        #expect(try await store.createIfAbsent(Self.fresh("shardId-000000000002")))
        let read = try #require(try await store.lease("shardId-000000000001"))
        #expect(read == Self.fresh())
        #expect(try await store.leases().map(\.leaseKey) == ["shardId-000000000001", "shardId-000000000002"])
        #expect(try await store.lease("shardId-missing") == nil)
    }

    @Test(arguments: StoreKind.allCases)
    func takeRenewCheckpointReleaseAreFenced(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        _ = try await store.createIfAbsent(Self.fresh())
        let original = try #require(try await store.lease("shardId-000000000001"))

        let taken = try await store.take(original, owner: "worker-a")
        #expect(taken.owner == "worker-a")
        #expect(taken.counter == original.counter + 1)
        #expect(taken.ownerSwitchesSinceCheckpoint == 0, "taking a lease nobody held is no owner switch (as in KCL)")
        await expectStale { _ = try await store.take(original, owner: "worker-b") }  // stale counter
        // The same take sent again (its answer lost): the earlier attempt's success.
        #expect(try await store.take(original, owner: "worker-a") == taken)

        let renewed = try await store.renew(taken)
        #expect(renewed.counter == taken.counter + 1)
        #expect(renewed.owner == "worker-a")
        // The renew's answer was lost and it is sent again: recognised as the earlier success.
        #expect(try await store.renew(taken) == renewed)
        await expectStale { _ = try await store.renew(original) }  // two behind
        var impostor = renewed
        impostor.owner = "worker-b"
        await expectStale { _ = try await store.renew(impostor) }  // right counter, wrong owner

        var wrongOwner = renewed
        wrongOwner.owner = "worker-b"
        await expectStale { _ = try await store.checkpoint(wrongOwner, .shardEnd) }
        await expectStale { _ = try await store.release(wrongOwner) }

        let checkpointed = try await store.checkpoint(renewed, .at(Self.sequence, subSequenceNumber: 7))
        #expect(checkpointed.checkpoint == .at(Self.sequence, subSequenceNumber: 7))
        #expect(checkpointed.checkpoint.sequenceNumber == Self.sequence)
        #expect(checkpointed.ownerSwitchesSinceCheckpoint == 0, "a checkpoint resets the owner switches")
        #expect(checkpointed.counter == renewed.counter + 1)
        #expect(try await store.checkpoint(renewed, .at(Self.sequence, subSequenceNumber: 7)) == checkpointed, "a retried checkpoint")

        // A stale checkpoint changes nothing.
        await expectStale { _ = try await store.checkpoint(renewed, .shardEnd) }
        #expect(try await store.lease("shardId-000000000001") == checkpointed)

        // Taken over from a live owner: an owner switch.
        let stolen = try await store.take(checkpointed, owner: "worker-b")
        #expect(stolen.owner == "worker-b")
        #expect(stolen.ownerSwitchesSinceCheckpoint == 1)
        let again = try await store.take(stolen, owner: "worker-b")
        #expect(again.ownerSwitchesSinceCheckpoint == 1, "taking a lease one already holds is no switch")
        let released = try await store.release(again)
        #expect(released.owner == nil)
        #expect(try await store.release(again) == released, "a retried release")
        await expectStale { _ = try await store.release(stolen) }
        let retaken = try await store.take(released, owner: "worker-c")
        #expect(retaken.ownerSwitchesSinceCheckpoint == 1, "a released lease's take is no further switch")
        #expect(again.checkpoint == .at(Self.sequence, subSequenceNumber: 7), "the checkpoint survives a change of owner")
        #expect(again.parentShardIDs == ["shardId-000000000000"])
        #expect(again.hashKeyRange == Self.fresh().hashKeyRange)
    }

    @Test(arguments: StoreKind.allCases)
    func shardEndChildrenAndDelete(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        _ = try await store.createIfAbsent(Self.fresh())
        var lease = try await store.take(try #require(try await store.lease("shardId-000000000001")), owner: "w")
        lease = try await store.checkpoint(lease, .shardEnd)
        let withChildren = try await store.recordChildShards(lease, ["shardId-000000000003", "shardId-000000000004"])
        #expect(withChildren.childShardIDs == ["shardId-000000000003", "shardId-000000000004"])
        #expect(withChildren.checkpoint == .shardEnd)
        await expectStale { try await store.delete(lease) }
        #expect(try await store.lease("shardId-000000000001") != nil)
        try await store.delete(withChildren)
        #expect(try await store.lease("shardId-000000000001") == nil)
        for write in [
            { _ = try await store.take(withChildren, owner: "w") },
            { _ = try await store.checkpoint(withChildren, .shardEnd) },
            { _ = try await store.recordChildShards(withChildren, []) },
            { try await store.delete(withChildren) },
        ] as [() async throws -> Void] {
            let error = await #expect(throws: LeaseStoreError.self) { try await write() }
            #expect(error?.code == .notFound, "\(String(describing: error))")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func pendingCheckpointIsKeptUntilACheckpoint(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        var lease = Self.fresh()
        lease.pendingCheckpoint = .at(Self.sequence, subSequenceNumber: 2)
        lease.pendingCheckpointState = [1, 2, 3]
        _ = try await store.createIfAbsent(lease)
        let taken = try await store.take(lease, owner: "w")
        #expect(taken.pendingCheckpoint == .at(Self.sequence, subSequenceNumber: 2))
        #expect(taken.pendingCheckpointState == [1, 2, 3])
        let checkpointed = try await store.checkpoint(taken, .at(Self.sequence, subSequenceNumber: 3))
        #expect(checkpointed.pendingCheckpoint == nil)
        #expect(checkpointed.pendingCheckpointState == nil)
    }

    /// Racing conditional writes, on the stores whose atomicity can be exercised here. DynamoDB
    /// makes conditional writes atomic, but the moto server does not: it serves requests on threads
    /// and its DynamoDB backend takes no lock between checking a condition and writing (two racing
    /// takes were seen to both succeed). The DynamoDB store sends one conditional `UpdateItem` per
    /// write, so it is as atomic as the service; its fencing is covered sequentially above.
    @Test(arguments: [StoreKind.inMemory, .sqlite])
    func racingTakesHaveOneWinner(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        _ = try await store.createIfAbsent(Self.fresh())
        let lease = try #require(try await store.lease("shardId-000000000001"))
        let winners = await withTaskGroup(of: Bool.self) { group in
            for worker in 0..<8 {
                group.addTask { (try? await store.take(lease, owner: "worker-\(worker)")) != nil }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(winners == 1)
        #expect(try await store.lease("shardId-000000000001")?.counter == lease.counter + 1)
    }
}
