import Foundation
import KinesisAPI
import KinesisLeases

// Contends for the leases of a SQLite lease store, for the two-process test: `iterations` times,
// for every lease, take it and checkpoint it (both fenced). Prints the number of writes that
// succeeded and of those refused as stale, as JSON.
let arguments = CommandLine.arguments
guard arguments.count == 4, let iterations = Int(arguments[3]) else {
    FileHandle.standardError.write(Data("usage: LeaseContender DATABASE WORKER ITERATIONS\n".utf8))
    exit(2)
}
let store = try await SQLiteLeaseStore(path: arguments[1])
let worker = arguments[2]
var succeeded = 0
var stale = 0
for iteration in 0..<iterations {
    for lease in try await store.leases() {
        do {
            let taken = try await store.take(lease, owner: worker)
            succeeded += 1
            _ = try await store.checkpoint(taken, .at(SequenceNumber("\(iteration + 1)")!))
            succeeded += 1
        } catch let error as LeaseStoreError where error.code == .stale {
            stale += 1
        }
    }
}
print(#"{"succeeded":\#(succeeded),"stale":\#(stale)}"#)
