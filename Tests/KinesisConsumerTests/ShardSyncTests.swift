import KinesisAPI
import KinesisConsumer
import KinesisLeases
import Testing

/// Shard sync's pure decisions.
@Suite struct ShardSyncTests {
    static func shard(_ id: Int, parents: [Int] = [], closed: Bool = false) -> Shard {
        let ids = parents.map { "shardId-\(String(repeating: "0", count: 11))\($0)" }
        return Shard(
            shardID: "shardId-\(String(repeating: "0", count: 11))\(id)", parentShardID: ids.first, adjacentParentShardID: ids.dropFirst().first,
            hashKeyRange: HashKeyRange(startingHashKey: 0, endingHashKey: .max),
            sequenceNumberRange: SequenceNumberRange(startingSequenceNumber: SequenceNumber("1")!, endingSequenceNumber: closed ? SequenceNumber("9")! : nil)
        )
    }

    static func key(_ id: Int) -> String { "shardId-\(String(repeating: "0", count: 11))\(id)" }

    @Test func aNewStreamGetsALeasePerShardAtTheInitialPosition() {
        let plan = ShardSync.plan(shards: [Self.shard(0), Self.shard(1)], leases: [], initialPosition: .latest)
        #expect(plan.create.map(\.leaseKey) == [Self.key(0), Self.key(1)])
        #expect(plan.create.allSatisfy { $0.checkpoint == .latest && $0.owner == nil })
        #expect(plan.delete.isEmpty)
    }

    @Test func childrenOfLeasedParentsStartAtTrimHorizonWhateverTheInitialPosition() {
        let shards = [Self.shard(0, closed: true), Self.shard(1, parents: [0]), Self.shard(2, parents: [0])]
        let plan = ShardSync.plan(shards: shards, leases: [Lease(leaseKey: Self.key(0), checkpoint: .latest)], initialPosition: .latest)
        #expect(plan.create.map(\.leaseKey) == [Self.key(1), Self.key(2)])
        #expect(plan.create.allSatisfy { $0.checkpoint == .trimHorizon && $0.parentShardIDs == [Self.key(0)] })
    }

    @Test func withLatestClosedShardsWithoutLeasesAreSkippedAndTheirChildrenStartAtLatest() {
        let shards = [Self.shard(0, closed: true), Self.shard(1, parents: [0])]
        let plan = ShardSync.plan(shards: shards, leases: [], initialPosition: .latest)
        #expect(plan.create.map(\.leaseKey) == [Self.key(1)])
        #expect(plan.create.first?.checkpoint == .latest)
        #expect(plan.create.first?.parentShardIDs == [])
    }

    @Test func withTrimHorizonTheWholeLineageIsLeasedParentsFirst() {
        let shards = [Self.shard(0, closed: true), Self.shard(1, closed: true), Self.shard(2, parents: [0, 1])]
        let plan = ShardSync.plan(shards: shards, leases: [], initialPosition: .trimHorizon)
        #expect(plan.create.map(\.leaseKey) == [Self.key(0), Self.key(1), Self.key(2)])
        #expect(plan.create.last?.parentShardIDs == [Self.key(0), Self.key(1)])
    }

    @Test func aShardWhoseChildIsLeasedIsNotLeasedAgainAndFinishedParentsAreDeletedOnceChildrenStarted() {
        let shards = [Self.shard(0, closed: true), Self.shard(1, parents: [0])]
        let notStarted = [Lease(leaseKey: Self.key(1), checkpoint: .trimHorizon, parentShardIDs: [Self.key(0)])]
        #expect(ShardSync.plan(shards: shards, leases: notStarted, initialPosition: .trimHorizon) == ShardSync.Plan())
        let parent = Lease(leaseKey: Self.key(0), checkpoint: .shardEnd, childShardIDs: [Self.key(1)])
        let started = Lease(leaseKey: Self.key(1), checkpoint: .at(SequenceNumber("12")!), parentShardIDs: [Self.key(0)])
        #expect(ShardSync.plan(shards: shards, leases: [parent] + notStarted, initialPosition: .trimHorizon).delete.isEmpty)
        #expect(ShardSync.plan(shards: shards, leases: [parent, started], initialPosition: .trimHorizon).delete == [parent])
    }
}
