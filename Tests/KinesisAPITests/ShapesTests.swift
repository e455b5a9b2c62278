import Foundation
import Testing

@_spi(Tooling) @testable import KinesisAPI

@Suite struct SequenceNumberTests {
    @Test func ordersFiftySixDigitNumbersExactly() throws {
        let a = try #require(SequenceNumber("49590338271490256608559692538361571095921575989136588898"))
        let b = try #require(SequenceNumber("49590338271490256608559692538361571095921575989136588899"))
        let c = try #require(SequenceNumber("49590338271490256608559692540925702759324208523137515618"))
        let short = try #require(SequenceNumber("21269319989652663814458848515492872193"))
        #expect(a < b && b < c)
        #expect(short < a, "fewer digits is smaller")
        #expect(SequenceNumber("0") ?? a < short)
        #expect([c, short, b, a].sorted() == [short, a, b, c])
    }

    @Test func leadingZerosAreDropped() {
        #expect(SequenceNumber("000123") == SequenceNumber("123"))
        #expect(SequenceNumber("0000")?.rawValue == "0")
    }

    @Test(arguments: ["", "12a", "-1", "1.5", " 1", String(repeating: "9", count: 130)])
    func rejectsNonNumbers(_ text: String) {
        #expect(SequenceNumber(text) == nil)
    }

    @Test func acceptsTheLongestTheAPIAllows() {
        #expect(SequenceNumber(String(repeating: "9", count: 129)) != nil)
    }
}

@Suite struct HashKeyTests {
    @Test(arguments: [
        ("partitionKey", "193318062818912349798954611745638949166"),
        ("customer-42", "273230869323448032740578469245923174832"),
        ("", "281949768489412648962353822266799178366"),
    ])
    func partitionKeyHashIsMD5BigEndian(_ key: String, _ expected: String) {
        #expect(HashKey.of(partitionKey: key).description == expected)
    }

    @Test func parsesTheWholeRangeAndNoMore() {
        #expect(HashKey.parse("0") == 0)
        #expect(HashKey.parse("340282366920938463463374607431768211455") == UInt128.max)
        #expect(HashKey.parse("340282366920938463463374607431768211456") == nil)
        #expect(HashKey.parse("-1") == nil)
        #expect(HashKey.parse("1e5") == nil)
        #expect(HashKey.parse("") == nil)
    }

    @Test func rangesIncludeBothEnds() {
        let range = HashKeyRange(startingHashKey: 170141183460469231731687303715884105728, endingHashKey: UInt128.max)
        #expect(range.contains(170141183460469231731687303715884105728))
        #expect(range.contains(UInt128.max))
        #expect(!range.contains(170141183460469231731687303715884105727))
    }
}

@Suite struct Base64Tests {
    @Test func matchesFoundationForEverySmallSize() throws {
        var generator = SystemRandomNumberGenerator()
        for size in 0..<200 {
            let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let ours = Base64.encode(bytes)
            #expect(ours == Data(bytes).base64EncodedString())
            #expect(Base64.decode(ours) == bytes)
        }
    }

    @Test(arguments: ["A", "AB", "ABC", "AB=C", "A===", "AB\u{0}C", "ab cd", "====", "AB==CD==", "QQ=x", "QR=="])
    func rejectsInvalidText(_ text: String) {
        #expect(Base64.decode(text) == nil, "\(text)")
    }
}

/// Iterations of the bounded fuzz tests: 20,000 in the suite, more with `KINESIS_FUZZ_ITERATIONS`
/// (`scripts/fuzz`).
func fuzzIterations() -> Int {
    ProcessInfo.processInfo.environment["KINESIS_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 20_000
}
