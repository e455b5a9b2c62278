import AWSCore
import Foundation
import Testing

@testable import KinesisAPI

@Suite struct AggregationTests {
    static func sample() -> [UserRecord] {
        [
            UserRecord(partitionKey: "alpha", data: Array("first".utf8)[...]),
            UserRecord(partitionKey: "beta", explicitHashKey: 12345, data: [][...]),
            UserRecord(partitionKey: "alpha", explicitHashKey: UInt128.max, data: Array(repeating: 7, count: 20_000)[...], tags: [.init(key: "k", value: "v"), .init(key: "bare")]),
            UserRecord(partitionKey: "gamma", explicitHashKey: 12345, data: Array("last".utf8)[...]),
        ]
    }

    @Test func roundTripsWithExactSizes() throws {
        var builder = AggregatedRecordBuilder(maxBytes: 1024 * 1024)
        for record in Self.sample() {
            let predicted = builder.encodedSize(adding: record)
            let appended = builder.append(record)
            #expect(appended)
            #expect(builder.encodedSize == predicted)
        }
        let bytes = builder.build()
        #expect(bytes.count == builder.encodedSize)
        #expect(Array(bytes.prefix(4)) == [0xF3, 0x89, 0x9A, 0xC2])
        #expect(builder.partitionKey == "alpha")
        let decoded = try AggregatedRecordFormat.decode(bytes[...])
        #expect(decoded == Self.sample())
    }

    @Test func keysAreComparedByTheirBytes() throws {
        // "é" precomposed and decomposed: equal as Swift strings, different bytes and hash keys.
        let composed = "caf\u{E9}", decomposed = "cafe\u{301}"
        #expect(composed == decomposed)
        var builder = AggregatedRecordBuilder()
        builder.append(UserRecord(partitionKey: composed, data: [1][...]))
        builder.append(UserRecord(partitionKey: decomposed, data: [2][...]))
        let decoded = try AggregatedRecordFormat.decode(builder.build()[...])
        #expect(Array(decoded[0].partitionKey.utf8) == Array(composed.utf8))
        #expect(Array(decoded[1].partitionKey.utf8) == Array(decomposed.utf8))
        #expect(decoded[0].effectiveHashKey != decoded[1].effectiveHashKey)
    }

    @Test func aggregateRoutesLikeItsFirstRecord() {
        var builder = AggregatedRecordBuilder()
        #expect(builder.explicitHashKey == nil)
        builder.append(UserRecord(partitionKey: "first", data: [1][...]))
        builder.append(UserRecord(partitionKey: "second", explicitHashKey: 7, data: [2][...]))
        #expect(builder.partitionKey == "first")
        #expect(builder.explicitHashKey == HashKey.of(partitionKey: "first"))
        var explicit = AggregatedRecordBuilder()
        explicit.append(UserRecord(partitionKey: "p", explicitHashKey: 99, data: [1][...]))
        #expect(explicit.explicitHashKey == 99)
    }

    @Test func respectsTheSizeLimit() {
        var builder = AggregatedRecordBuilder(maxBytes: 1000)
        var added = 0
        while builder.append(UserRecord(partitionKey: "key-\(added % 7)", data: Array(repeating: UInt8(added % 256), count: 90)[...])) {
            added += 1
        }
        #expect(added > 5)
        #expect(builder.count == added)
        #expect(builder.encodedSize <= 1000)
        #expect(builder.build().count <= 1000)
        let oversized = builder.append(UserRecord(partitionKey: "x", data: Array(repeating: 1, count: 2000)[...]))
        #expect(!oversized)
    }

    @Test func manyRecordsShareTheirKeys() throws {
        var builder = AggregatedRecordBuilder(maxBytes: 1024 * 1024)
        for index in 0..<5000 {
            let appended = builder.append(UserRecord(partitionKey: "k\(index % 3)", data: Array("\(index)".utf8)[...]))
            #expect(appended)
        }
        let decoded = try AggregatedRecordFormat.decode(builder.build()[...])
        #expect(decoded.count == 5000)
        #expect(decoded[4999].partitionKey == "k1")
        #expect(Array(decoded[4999].data) == Array("4999".utf8))
    }

    func record(_ data: [UInt8], sequence: String = "49590338271490256608559692538361571095921575989136588898") -> Record {
        Record(sequenceNumber: SequenceNumber(sequence)!, partitionKey: "outer", data: data[...], approximateArrivalTimestamp: Date(timeIntervalSince1970: 1000))
    }

    @Test func deaggregatorGivesSubSequenceNumbersAndPassesPlainRecords() {
        var builder = AggregatedRecordBuilder()
        for user in Self.sample().prefix(2) { builder.append(user) }
        var deaggregator = Deaggregator(shardID: "shardId-000000000000")
        var output: [DeaggregatedRecord] = []
        deaggregator.deaggregate([record(builder.build()), record(Array("plain".utf8), sequence: "49590338271490256608559692538361571095921575989136588899")], into: &output)
        #expect(output.count == 3)
        #expect(output.map(\.subSequenceNumber) == [0, 1, 0])
        #expect(output.map(\.isAggregated) == [true, true, false])
        #expect(output.map(\.partitionKey) == ["alpha", "beta", "outer"])
        #expect(output[1].explicitHashKey == 12345)
        #expect(output[0].sequenceNumber == output[1].sequenceNumber)
        #expect(output[0].approximateArrivalTimestamp == Date(timeIntervalSince1970: 1000))
        #expect(deaggregator.failureCount == 0)
    }

    @Test func corruptAggregatesAreDeliveredWholeAndCounted() {
        var builder = AggregatedRecordBuilder()
        for user in Self.sample() { builder.append(user) }
        var badChecksum = builder.build()
        badChecksum[10] ^= 0xFF
        var truncated = AggregatedRecordFormat.magic + Array(repeating: 0x1A, count: 3)
        truncated += Hashing.md5(Array(repeating: UInt8(0x1A), count: 3))
        var badIndex = ProtobufWriter()
        badIndex.writeLengthDelimited(field: 1, Array("only".utf8))
        var inner = ProtobufWriter()
        inner.writeVarintField(field: 1, 5)
        inner.writeLengthDelimited(field: 3, [1, 2])
        badIndex.writeLengthDelimited(field: 3, inner.bytes)
        let outOfRange = AggregatedRecordFormat.magic + badIndex.bytes + Hashing.md5(badIndex.bytes)

        var deaggregator = Deaggregator(shardID: "shardId-000000000007")
        var output: [DeaggregatedRecord] = []
        for bytes in [badChecksum, truncated, outOfRange] {
            deaggregator.deaggregate(record(bytes), into: &output)
        }
        #expect(output.count == 3)
        #expect(output.allSatisfy { !$0.isAggregated && $0.subSequenceNumber == 0 && $0.partitionKey == "outer" })
        #expect(zip(output, [badChecksum, truncated, outOfRange]).allSatisfy { Array($0.data) == $1 })
        #expect(deaggregator.failureCount == 3)
        #expect(throws: AggregatedRecordFormat.DecodingError.self) { _ = try AggregatedRecordFormat.decode(outOfRange[...]) }
    }

    /// Random and mutated aggregates (checksum recomputed so the parser sees them): never a crash,
    /// never a user record larger than the input (bounded run; `scripts/fuzz` runs longer).
    @Test func survivesRandomAndMutatedAggregates() {
        var generator = SystemRandomNumberGenerator()
        var builder = AggregatedRecordBuilder()
        for user in Self.sample().prefix(2) + [Self.sample()[3]] { builder.append(user) }
        let seed = Array(builder.build().dropFirst(4).dropLast(16))
        var decoded = 0, rejected = 0
        let iterations = fuzzIterations()
        for iteration in 0..<iterations {
            var body: [UInt8]
            if iteration % 4 == 0 {
                body = (0..<Int.random(in: 0...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            } else {
                body = seed
                for _ in 0..<Int.random(in: 1...3, using: &generator) where !body.isEmpty {
                    let position = Int.random(in: 0..<body.count, using: &generator)
                    switch Int.random(in: 0..<3, using: &generator) {
                    case 0: body[position] = UInt8.random(in: 0...255, using: &generator)
                    case 1: body.remove(at: position)
                    default: body.insert(UInt8.random(in: 0...255, using: &generator), at: position)
                    }
                }
            }
            let bytes = AggregatedRecordFormat.magic + body + Hashing.md5(body)
            do {
                let records = try AggregatedRecordFormat.decode(bytes[...])
                decoded += 1
                #expect(records.reduce(0) { $0 + $1.data.count } <= bytes.count)
            } catch {
                rejected += 1
            }
        }
        #expect(decoded + rejected == iterations)
        #expect(decoded > 0 && rejected > 0)
    }
}
