import Foundation
import IntegrationSupport
import KinesisLeases
import Testing

/// Two processes share one SQLite lease file, each taking and checkpointing every lease as fast as
/// it can: every write either succeeds and bumps the counter by one, or is refused as stale and
/// changes nothing, so the counters end at exactly the number of successful writes of both.
@Suite struct SQLiteTwoProcessTests {
    struct Report: Decodable { var succeeded: Int; var stale: Int }

    /// The contender, built next to the test bundle.
    static var contender: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("LeaseContender").path
    }

    @Test func noLostWriteAcrossProcesses() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.contender), "LeaseContender not built at \(Self.contender)")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("shared-\(UUID().uuidString).sqlite").path
        let store = try await SQLiteLeaseStore(path: path)
        try await store.prepare()
        for shard in 0..<4 {
            _ = try await store.createIfAbsent(Lease(leaseKey: "shardId-\(shard)"))
        }
        // Both contenders at once, waited for off the cooperative pool.
        async let first = ChildProcess.run(Self.contender, [path, "worker-a", "150"])
        async let second = ChildProcess.run(Self.contender, [path, "worker-b", "150"])
        var reports: [Report] = []
        for output in try await [first, second] {
            #expect(output.status == 0, "\(output.errorText)")
            reports.append(try JSONDecoder().decode(Report.self, from: output.stdout))
        }
        let leases = try await store.leases()
        let counters = leases.reduce(0) { $0 + Int($1.counter) }
        #expect(counters == reports.reduce(0) { $0 + $1.succeeded })
        #expect(reports.allSatisfy { $0.succeeded > 0 }, "\(reports)")
        #expect(leases.allSatisfy { $0.owner == "worker-a" || $0.owner == "worker-b" })
        // Every checkpoint recorded is one a worker wrote (1...150).
        #expect(leases.allSatisfy { Int($0.checkpoint.value).map { (1...150).contains($0) } ?? false })
    }
}
