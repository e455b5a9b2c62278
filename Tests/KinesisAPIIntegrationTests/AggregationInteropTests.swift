import IntegrationSupport
import AWSCore
import Foundation
import KinesisAPI
import Testing

/// The KPL aggregated-record format against the `aws-kinesis-agg` package (PyPI), both ways.
@Suite struct AggregationInteropTests {
    /// Explicit hash keys (present, absent, repeated, the maximum), empty data, large records, and
    /// many records in one aggregate.
    static func cases() -> [[UserRecord]] {
        var generator = SystemRandomNumberGenerator()
        let random = { (count: Int) in (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }[...] }
        return [
            [UserRecord(partitionKey: "only", data: Array("one record".utf8)[...])],
            [
                UserRecord(partitionKey: "a", explicitHashKey: 0, data: random(10)),
                UserRecord(partitionKey: "b", data: [][...]),
                UserRecord(partitionKey: "a", explicitHashKey: UInt128.max, data: random(1)),
                UserRecord(partitionKey: "ключ", explicitHashKey: 0, data: random(33)),
            ],
            [UserRecord(partitionKey: "big", data: random(400_000)), UserRecord(partitionKey: "big2", explicitHashKey: 42, data: random(300_000))],
            (0..<2000).map { UserRecord(partitionKey: "k\($0 % 17)", explicitHashKey: $0 % 5 == 0 ? UInt128($0) * 1_000_000_007 : nil, data: random($0 % 40)) },
        ]
    }

    @Test func oursDecodeWithAWSKinesisAgg() async throws {
        let cases = Self.cases()
        let encoded: [String] = cases.map { records in
            var builder = AggregatedRecordBuilder(maxBytes: 1024 * 1024)
            for record in records {
                let appended = builder.append(record)
                #expect(appended)
            }
            return Data(builder.build()).base64EncodedString()
        }
        let decoded = try await Peer.run(["deaggregate"], input: encoded, as: [[Peer.UserRecordJSON]].self)
        #expect(decoded.count == cases.count)
        for (theirs, ours) in zip(decoded, cases) {
            #expect(theirs.count == ours.count)
            for (index, (user, record)) in zip(theirs, ours).enumerated() {
                #expect(user.pk == record.partitionKey)
                #expect(user.ehk == record.explicitHashKey?.description)
                #expect(user.data == Data(record.data).base64EncodedString())
                #expect(user.sub == UInt64(index))
                #expect(user.aggregated == true)
            }
        }
    }

    @Test func theirsDecodeHere() async throws {
        let cases = Self.cases()
        let encoded = try await Peer.run(["aggregate"], input: cases.map { $0.map(Peer.json) }, as: [String].self)
        #expect(encoded.count == cases.count)
        for (text, expected) in zip(encoded, cases) {
            let bytes = try #require(Data(base64Encoded: text))
            let records = try AggregatedRecordFormat.decode(Array(bytes)[...])
            #expect(records.count == expected.count)
            #expect(records.map(\.partitionKey) == expected.map(\.partitionKey))
            #expect(records.map(\.explicitHashKey) == expected.map(\.explicitHashKey))
            #expect(records.map { Array($0.data) } == expected.map { Array($0.data) })
        }
    }
}
