import IntegrationSupport
import AWSCore
import Foundation
import KinesisAPI
import KinesisTestKit
import Testing

/// What moto does faithfully (put and get round trips, the five iterator positions), the
/// simulator must do the same way: one scenario, run against both, same results.
@Suite struct SimulatorParityTests {
    struct Outcome: Equatable {
        var roundTrip: [String]
        var positions: [[String]]
    }

    static func scenario(_ client: KinesisClient, stream: String) async throws -> Outcome {
        try await client.createStream(stream, shardCount: 1)
        let start = Date().addingTimeInterval(-3600)
        var written: [PutRecordOutput] = []
        for index in 0..<6 {
            written.append(try await client.putRecord(.name(stream), data: Array("record-\(index)".utf8), partitionKey: "key-\(index)"))
        }
        let shard = written[0].shardID
        func read(_ position: IteratorPosition) async throws -> [String] {
            let iterator = try await client.getShardIterator(.name(stream), shardID: shard, position: position)
            return try await client.getRecords(iterator: iterator).records.map { "\($0.partitionKey)=\(String(decoding: $0.data, as: UTF8.self))" }
        }
        let roundTrip = try await read(.trimHorizon)
        let latest = try await client.getShardIterator(.name(stream), shardID: shard, position: .latest)
        _ = try await client.putRecord(.name(stream), data: Array("late".utf8), partitionKey: "late")
        let positions = [
            try await read(.atSequenceNumber(written[3].sequenceNumber)),
            try await read(.afterSequenceNumber(written[3].sequenceNumber)),
            try await read(.atTimestamp(start)),
            try await client.getRecords(iterator: latest).records.map { "\($0.partitionKey)=\(String(decoding: $0.data, as: UTF8.self))" },
        ]
        try await client.deleteStream(.name(stream))
        return Outcome(roundTrip: roundTrip, positions: positions)
    }

    @Test func simulatorAndMotoAgree() async throws {
        let onMoto = try await Self.scenario(try await Moto.client(), stream: Moto.uniqueStream("parity"))
        let onSimulator = try await Self.scenario(SimulatedKinesis().client(), stream: "parity")
        #expect(onMoto.roundTrip == (0..<6).map { "key-\($0)=record-\($0)" })
        #expect(onSimulator == onMoto)
    }
}
