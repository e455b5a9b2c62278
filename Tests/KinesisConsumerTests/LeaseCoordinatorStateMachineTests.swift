import KinesisAPI
import KinesisConsumer
import KinesisLeases
import Testing

@Suite struct LeaseCoordinatorStateMachineTests {
    static let t0 = ContinuousClock.now

    static func lease(_ n: Int, owner: String? = nil, counter: Int64 = 1, checkpoint: Checkpoint = .trimHorizon, parents: Set<String> = []) -> Lease {
        Lease(leaseKey: "shardId-\(n)", owner: owner, counter: counter, checkpoint: checkpoint, parentShardIDs: parents)
    }

    func coordinator(_ id: String = "me", _ configure: (inout LeaseCoordinatorStateMachine.Configuration) -> Void = { _ in }) -> LeaseCoordinatorStateMachine {
        var configuration = LeaseCoordinatorStateMachine.Configuration()
        configure(&configuration)
        return LeaseCoordinatorStateMachine(workerID: id, configuration: configuration)
    }

    @Test func aLoneWorkerTakesEveryUnownedLease() {
        var machine = coordinator()
        let plan = machine.scanned((0..<4).map { Self.lease($0) }, now: Self.t0)
        #expect(plan.take.map(\.leaseKey) == ["shardId-0", "shardId-1", "shardId-2", "shardId-3"])
        #expect(plan.steal.isEmpty && plan.lost.isEmpty)
    }

    @Test func expiryIsACounterThatDoesNotMoveForTheFailoverTime() {
        var machine = coordinator { $0.failoverTime = .seconds(10) }
        let owned = (0..<2).map { Self.lease($0, owner: "gone", counter: 5) }
        #expect(machine.scanned(owned, now: Self.t0).take.isEmpty, "just seen: not expired")
        #expect(machine.scanned(owned, now: Self.t0 + .seconds(9)).take.isEmpty)
        // One of them is renewed meanwhile: its clock starts again.
        let renewedOne = [Self.lease(0, owner: "gone", counter: 5), Self.lease(1, owner: "alive", counter: 6)]
        let plan = machine.scanned(renewedOne, now: Self.t0 + .seconds(10))
        #expect(plan.take.map(\.leaseKey) == ["shardId-0"])
    }

    @Test func workersBalanceTowardTheCeilingByStealingFromTheBusiest() {
        var machine = coordinator { $0.maxLeasesToStealAtOneTime = 2 }
        // Another worker holds all 5 (live); we are the second worker: target ceil(5/2) = 3.
        let table = (0..<5).map { Self.lease($0, owner: "other", counter: 3) }
        let first = machine.scanned(table, now: Self.t0)
        #expect(first.take.isEmpty)
        #expect(first.steal.count == 2, "at most two at a time")
        for lease in first.steal { machine.taken(Lease(leaseKey: lease.leaseKey, owner: "me", counter: lease.counter + 1)) }
        var next = table
        for lease in first.steal { next[Int(lease.leaseKey.split(separator: "-")[1])!] = Lease(leaseKey: lease.leaseKey, owner: "me", counter: lease.counter + 1) }
        // Now 3 and 2: the other worker is at the target, so nothing more moves.
        let second = machine.scanned(next, now: Self.t0 + .seconds(1))
        #expect(second == LeaseCoordinatorStateMachine.Plan())
    }

    @Test func balancedWorkersDoNotSteal() {
        var machine = coordinator()
        let table = [Self.lease(0, owner: "me"), Self.lease(1, owner: "me"), Self.lease(2, owner: "other"), Self.lease(3, owner: "other")]
        machine.taken(table[0])
        machine.taken(table[1])
        let plan = machine.scanned(table, now: Self.t0)
        #expect(plan == LeaseCoordinatorStateMachine.Plan())
    }

    @Test func limitsAreRespected() {
        var machine = coordinator { $0.maxLeasesForWorker = 2 }
        #expect(machine.scanned((0..<6).map { Self.lease($0) }, now: Self.t0).take.count == 2)
    }

    @Test func childrenWaitForTheirParents() {
        var machine = coordinator()
        let parent = Self.lease(0, owner: "other", checkpoint: .at(SequenceNumber("1")!))
        let child = Self.lease(1, parents: ["shardId-0"])
        #expect(!machine.scanned([parent, child], now: Self.t0).take.contains { $0.leaseKey == "shardId-1" })
        let finished = Self.lease(0, owner: "other", counter: 2, checkpoint: .shardEnd)
        #expect(machine.scanned([finished, child], now: Self.t0 + .seconds(1)).take.map(\.leaseKey) == ["shardId-1"])
        // A parent whose lease was deleted after it finished no longer holds its child back.
        var fresh = coordinator()
        #expect(fresh.scanned([child], now: Self.t0).take.map(\.leaseKey) == ["shardId-1"])
    }

    @Test func leasesTakenByOthersAreLost() {
        var machine = coordinator()
        let mine = Self.lease(0, owner: "me", counter: 4)
        machine.taken(mine)
        #expect(machine.leasesToRenew() == [mine])
        let plan = machine.scanned([Self.lease(0, owner: "thief", counter: 5)], now: Self.t0)
        #expect(plan.lost == ["shardId-0"])
        #expect(machine.leasesToRenew().isEmpty)
        machine.taken(mine)
        let first = machine.lost("shardId-0")
        let second = machine.lost("shardId-0")
        #expect(first && !second)
    }

    @Test func shutdownReleasesEverythingHeld() {
        var machine = coordinator()
        machine.taken(Self.lease(0, owner: "me"))
        machine.taken(Self.lease(1, owner: "me"))
        #expect(machine.leasesToRelease().map(\.leaseKey) == ["shardId-0", "shardId-1"])
        #expect(machine.held.isEmpty)
        #expect(LeaseCoordinatorStateMachine.Configuration().renewInterval == Duration.seconds(10) / 3)
    }
}
