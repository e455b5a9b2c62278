#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KinesisAPI

extension SimulatedKinesis {
    /// A stored record.
    struct StoredRecord {
        var sequenceNumber: SequenceNumber
        var partitionKey: String
        var data: [UInt8]
        var arrival: Date
        var explicitHashKey: UInt128?
    }

    /// A shard and its records. Records are never removed but by retention trimming, which only
    /// moves `trimmed` (the absolute index of the first record still there).
    struct ShardState {
        var id: String
        /// The shard's number, which its sequence numbers carry.
        var ordinal: Int
        var parent: String?
        var adjacentParent: String?
        var range: HashKeyRange
        var startingSequenceNumber: SequenceNumber
        var endingSequenceNumber: SequenceNumber?
        var openedAt: Date
        var closedAt: Date?
        var records: [StoredRecord] = []
        var trimmed = 0
        var children: [String] = []
        /// Times of recent GetRecords calls and their bytes; recent writes (records, bytes).
        var reads: [(Date, Int)] = []
        var writes: [(Date, Int)] = []
        /// With limits on: reads are refused until then (2 MiB a second: a 10 MiB read blocks 5 s).
        var readBlockedUntil: Date?

        var isOpen: Bool { endingSequenceNumber == nil }
        /// Absolute index one past the last record.
        var end: Int { trimmed + records.count }
        func record(at absolute: Int) -> StoredRecord { records[absolute - trimmed] }
    }

    struct StreamState {
        var name: String
        var arn: String
        var mode: StreamMode
        var createdAt: Date
        var retentionHours = 24
        var shards: [ShardState] = []
        var nextShardIndex = 0
        var consumers: [String: (arn: String, createdAt: Date)] = [:]

        func index(of shardID: String) -> Int? { shards.firstIndex { $0.id == shardID } }
    }

    /// The whole service's state, behind the simulator's lock.
    struct State {
        var streams: [String: StreamState] = [:]
        /// Stream-wide sequence counter: numbers increase within a shard and are unique in a stream.
        var sequence: UInt64 = 0
        var faults = Faults()
        var limitsEnabled = false
        /// Draws for the fault shares only, so that the faults a test sees repeat run after run.
        var faultRandom = SplitMix64(seed: 0x5EED)
        var iteratorNonce: UInt64 = 0
        var calls: [String: Int] = [:]

        /// 56 digits, as real ones have today: "49", the shard's number (10 digits), then the
        /// stream-wide counter (44 digits). Increasing in a shard, unique in the stream, and they tell
        /// which shard they belong to.
        mutating func nextSequenceNumber(shard ordinal: Int) -> SequenceNumber {
            sequence += 1
            return SequenceNumber("49" + Self.padded(ordinal, 10) + Self.padded(Int(sequence), 44))!
        }

        static func padded(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: width - digits.count) + digits
        }

        /// The shard number a sequence number of ours carries; `nil` for one that is not ours.
        static func shardOrdinal(of sequenceNumber: SequenceNumber) -> Int? {
            let digits = sequenceNumber.rawValue
            guard digits.count == 56, digits.hasPrefix("49") else { return nil }
            return Int(digits.dropFirst(2).prefix(10))
        }
    }

    /// A small deterministic generator for the fault shares, so that tests repeat.
    struct SplitMix64 {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func nextUnit() -> Double {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
        }
    }
}

/// Faults the simulator injects when told to.
public struct Faults: Sendable {
    /// The share (0...1) of calls of these operations answered with
    /// `ProvisionedThroughputExceededException`.
    public var throttle: [String: Double] = [:]
    /// The share (0...1) of calls of these operations answered with HTTP 500 `InternalFailure`.
    public var internalFailures: [String: Double] = [:]
    /// Extra time every call takes (real time: keep it short in tests).
    public var latency: Duration = .zero
    /// Chooses `PutRecords` entries to fail with `InternalFailure`: called with the entry's index and
    /// partition key.
    public var failPutRecordsEntry: (@Sendable (Int, String) -> Bool)?

    public init() {}
}
