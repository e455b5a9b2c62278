import Foundation
import BenchmarkSupport
import KinesisAPI

// Decodes a generated GetRecords body N times, with our decoder or with Foundation, so that
// `valgrind --tool=callgrind` can count the instructions (see scripts/count-instructions).

let args = CommandLine.arguments
let size = args[1] == "small" ? 100 : 10 * 1024
let count = args[1] == "small" ? 10_000 : 1_000
let body = getRecordsBody(records: count, size: size)
let iterations = Int(args[3]) ?? 0
var total = 0
for _ in 0..<iterations {
    if args[2] == "ours" {
        total &+= try GetRecordsDecoder.decode(body).records.count
    } else {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        total &+= try decoder.decode(FoundationGetRecords.self, from: Data(body)).Records.count
    }
}
print(total)
