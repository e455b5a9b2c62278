import AWSCore
import Foundation
import Testing

@testable import KinesisAPI

@Suite struct GetRecordsDecoderTests {
    /// The response of the AWS API reference's GetRecords example.
    static let referenceExample = """
        {
          "MillisBehindLatest": 2100,
          "NextShardIterator": "AAAAAAAAAAHsW8zCWf9164uy8Epue6WS3w6wmj4a4USt+CNvMd6uXQ+HL5vAJMznqqC0DLKsIjuoiTi1BpT6nW0LN2M2D56zM5H8anHm30Gbri9ua+qaGgj+3XTyvbhpERfrezgLHbPB/rIcVpykJbaSj5tmcXYRmFnqZBEyHwtZYFmh6hvWVFkIwLuMZLMrpWhG5r5hzkE=",
          "Records": [
            {
              "Data": "XzxkYXRhPl8w",
              "PartitionKey": "partitionKey",
              "ApproximateArrivalTimestamp": 1.441215410867E9,
              "SequenceNumber": "21269319989652663814458848515492872193"
            }
          ]
        }
        """

    @Test func decodesTheAPIReferenceExample() throws {
        let output = try GetRecordsDecoder.decode(Array(Self.referenceExample.utf8))
        #expect(output.millisBehindLatest == 2100)
        #expect(output.nextShardIterator?.hasPrefix("AAAAAAAAAAHsW8zCWf9164uy8Epue6WS3w6wmj4a4USt") == true)
        #expect(output.childShards == nil)
        #expect(!output.reachedShardEnd)
        let record = try #require(output.records.first)
        #expect(output.records.count == 1)
        #expect(Array(record.data) == Array("_<data>_0".utf8))
        #expect(record.partitionKey == "partitionKey")
        #expect(record.sequenceNumber.rawValue == "21269319989652663814458848515492872193")
        #expect(record.approximateArrivalTimestamp == Date(timeIntervalSince1970: 1_441_215_410.867))
        #expect(record.encryptionType == nil)
    }

    /// A closed shard read to its end, with the `ChildShards` of a split, 56-digit sequence
    /// numbers and KMS-encrypted records, as the API reference describes them.
    static let closedShardAfterSplit = """
        {"Records":[
          {"SequenceNumber":"49590338271490256608559692538361571095921575989136588898","ApproximateArrivalTimestamp":1.607460364567E9,"Data":"aGVsbG8=","PartitionKey":"k\\u00e9y\\/1","EncryptionType":"KMS"},
          {"SequenceNumber":"49590338271490256608559692540925702759324208523137515618","ApproximateArrivalTimestamp":1607460364.568,"Data":"","PartitionKey":"k2","EncryptionType":"NONE"}
        ],
        "MillisBehindLatest":0,
        "ChildShards":[
          {"ShardId":"shardId-000000000001","ParentShards":["shardId-000000000000"],"HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"170141183460469231731687303715884105727"}},
          {"ShardId":"shardId-000000000002","ParentShards":["shardId-000000000000"],"HashKeyRange":{"StartingHashKey":"170141183460469231731687303715884105728","EndingHashKey":"340282366920938463463374607431768211455"}}
        ]}
        """

    @Test func decodesAClosedShardsEnd() throws {
        let output = try GetRecordsDecoder.decode(Array(Self.closedShardAfterSplit.utf8))
        #expect(output.reachedShardEnd)
        #expect(output.millisBehindLatest == 0)
        #expect(output.records.map(\.sequenceNumber.rawValue) == [
            "49590338271490256608559692538361571095921575989136588898",
            "49590338271490256608559692540925702759324208523137515618",
        ])
        #expect(output.records[0].sequenceNumber < output.records[1].sequenceNumber)
        #expect(output.records[0].partitionKey == "kéy/1")
        #expect(Array(output.records[0].data) == Array("hello".utf8))
        #expect(output.records[0].encryptionType == .kms)
        #expect(output.records[1].data.isEmpty)
        #expect(output.records[1].encryptionType == EncryptionType.none)
        #expect(output.records[1].approximateArrivalTimestamp == Date(timeIntervalSince1970: 1_607_460_364.568))
        let children = try #require(output.childShards)
        #expect(children.map(\.shardID) == ["shardId-000000000001", "shardId-000000000002"])
        #expect(children[0].parentShards == ["shardId-000000000000"])
        #expect(children[1].hashKeyRange.endingHashKey == UInt128.max)
        #expect(children[1].hashKeyRange.startingHashKey == UInt128(1) << 127)
    }

    @Test func decodesAMergeChildAndNullIterator() throws {
        let body = #"{"Records":[],"NextShardIterator":null,"MillisBehindLatest":0,"ChildShards":[{"ShardId":"shardId-000000000003","ParentShards":["shardId-000000000001","shardId-000000000002"],"HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"340282366920938463463374607431768211455"}}]}"#
        let output = try GetRecordsDecoder.decode(Array(body.utf8))
        #expect(output.records.isEmpty)
        #expect(output.reachedShardEnd)
        #expect(output.childShards?.first?.parentShards == ["shardId-000000000001", "shardId-000000000002"])
    }

    @Test func ignoresUnknownFieldsAndOrder() throws {
        let body = #"{"Future":{"a":[1,2,{"b":null}],"c":true},"Records":[{"Extra":false,"PartitionKey":"p","Data":"AA==","SequenceNumber":"7"}],"MillisBehindLatest":5}"#
        let output = try GetRecordsDecoder.decode(Array(body.utf8))
        #expect(output.records.count == 1)
        #expect(Array(output.records[0].data) == [0])
        #expect(output.nextShardIterator == nil)
    }

    @Test(arguments: [
        ("", "not valid JSON"),
        ("<html><body>500 Internal Server Error</body></html>", "not valid JSON"),
        (#"{"Records":[{"SequenceNumber":"1","PartitionKey":"p","Data":"AA=="}"#, "not valid JSON"),
        (#"{"Records":[{"SequenceNumber":"1","PartitionKey":"p","Data":"A"}]}"#, "record 0: Data is not valid base64"),
        (#"{"Records":[{"SequenceNumber":"1","PartitionKey":"p","Data":"!!!!"}]}"#, "record 0: Data is not valid base64"),
        (#"{"Records":[{"SequenceNumber":12,"PartitionKey":"p","Data":"AA=="}]}"#, "not valid JSON"),
        (#"{"Records":[{"SequenceNumber":"x1","PartitionKey":"p","Data":"AA=="}]}"#, "is not a sequence number"),
        (#"{"Records":[{"PartitionKey":"p","Data":"AA=="}]}"#, "record 0 has no SequenceNumber"),
        (#"{"Records":[{"SequenceNumber":"1","Data":"AA=="}]}"#, "has no PartitionKey"),
        (#"{"Records":[{"SequenceNumber":"1","PartitionKey":"p"}]}"#, "has no Data"),
        (#"{"Records":[],"MillisBehindLatest":"soon"}"#, "not valid JSON"),
        (#"{"Records":[]} trailing"#, "unexpected data after"),
        (#"{"Records":[],"ChildShards":[{"ShardId":"s"}]}"#, "ChildShards is malformed"),
        // Not a GetRecords answer (a proxy's, say): no Records, so no "end of shard" either.
        ("{}", "the response has no Records"),
        (#"{"NextShardIterator":"AAAA","MillisBehindLatest":0}"#, "the response has no Records"),
        (#"{"Records":[{"SequenceNumber":"1","PartitionKey":"p","Data":"QU\u00e9=="}]}"#, "record 0: Data is not valid base64"),
    ])
    func malformedBodiesGiveNamedErrors(_ body: String, _ problem: String) {
        let error = #expect(throws: AWSError.self) { _ = try GetRecordsDecoder.decode(Array(body.utf8)) }
        #expect(error?.code == .malformedResponse)
        #expect(error?.message.contains(problem) == true, "\(error?.message ?? "")")
    }

    /// Escaped base64 whose escape hides non-ASCII bytes once wrote past the output buffer (the
    /// bytes grew into U+FFFD when unescaped): it must be rejected without writing anything.
    @Test func escapedDataWithInvalidBytesIsRejected() {
        var body = Array(#"{"Records":[{"Data":"\/"#.utf8)
        body += Array(repeating: 0xFF, count: 4001)
        body += Array(#"","SequenceNumber":"1","PartitionKey":"p"}]}"#.utf8)
        let error = #expect(throws: AWSError.self) { _ = try GetRecordsDecoder.decode(body) }
        #expect(error?.message.contains("Data is not valid base64") == true, "\(error?.message ?? "")")
    }

    @Test func escapedSlashesInDataAreDecoded() throws {
        let body = #"{"Records":[{"Data":"\/\/\/\/","SequenceNumber":"1","PartitionKey":"p"},{"Data":"\u0041\u0041==","SequenceNumber":"2","PartitionKey":"p"}],"NextShardIterator":"x"}"#
        let output = try GetRecordsDecoder.decode(Array(body.utf8))
        #expect(Array(output.records[0].data) == [0xFF, 0xFF, 0xFF])
        #expect(Array(output.records[1].data) == [0x00])
    }

    /// Random responses, encoded by Foundation's JSONSerialization (escaping `/` and non-ASCII as it
    /// likes), decode to the same records as Foundation's JSONDecoder + base64 give.
    @Test func agreesWithFoundationOnRandomResponses() throws {
        struct Reference: Decodable {
            struct Item: Decodable { var SequenceNumber: String; var PartitionKey: String; var Data: Data; var ApproximateArrivalTimestamp: Double? }
            var Records: [Item]
            var NextShardIterator: String?
            var MillisBehindLatest: Int64?
        }
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("abcXYZ09-_/\\\"é€𝄞 \t\u{1}")
        for _ in 0..<50 {
            let records: [[String: Any]] = (0..<Int.random(in: 0...40, using: &generator)).map { index in
                let data = (0..<Int.random(in: 0...300, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let key = String((0..<Int.random(in: 1...20, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
                return [
                    "SequenceNumber": "4959033827149025660855969253836157109592157598913658\(String(format: "%04d", index))",
                    "PartitionKey": key,
                    "Data": Data(data).base64EncodedString(),
                    "ApproximateArrivalTimestamp": Double(Int.random(in: 1_400_000_000_000...1_800_000_000_000, using: &generator)) / 1000,
                ]
            }
            let object: [String: Any] = ["Records": records, "NextShardIterator": "iter/\(Int.random(in: 0...1000))", "MillisBehindLatest": Int.random(in: 0...100_000)]
            let body = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            let reference = try JSONDecoder().decode(Reference.self, from: body)
            let ours = try GetRecordsDecoder.decode(Array(body))
            #expect(ours.records.count == reference.Records.count)
            #expect(ours.nextShardIterator == reference.NextShardIterator)
            #expect(ours.millisBehindLatest == reference.MillisBehindLatest)
            for (mine, theirs) in zip(ours.records, reference.Records) {
                #expect(mine.sequenceNumber.rawValue == theirs.SequenceNumber)
                #expect(mine.partitionKey == theirs.PartitionKey)
                #expect(Array(mine.data) == Array(theirs.Data))
                #expect(mine.approximateArrivalTimestamp?.timeIntervalSince1970 == theirs.ApproximateArrivalTimestamp)
            }
        }
    }

    /// Mutated and truncated bodies never crash the decoder: each decodes or throws
    /// `malformedResponse` (a bounded run; `scripts/fuzz` runs longer).
    @Test func survivesMutatedBodies() {
        var generator = SystemRandomNumberGenerator()
        let seeds = [Self.referenceExample, Self.closedShardAfterSplit].map { Array($0.utf8) }
        let interesting: [UInt8] = Array("{}[]\",:\\0123456789eE+-.tfnu=A/ ".utf8) + [0x00, 0xFF, 0xC3, 0x80]
        var decoded = 0, rejected = 0
        let iterations = fuzzIterations()
        for iteration in 0..<iterations {
            var body = seeds[iteration % seeds.count]
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let position = Int.random(in: 0..<body.count, using: &generator)
                switch Int.random(in: 0..<5, using: &generator) {
                case 0: body[position] = interesting.randomElement(using: &generator)!
                case 4:
                    // An escape (often `\/`, as in base64 from writers that escape slashes) followed
                    // by bytes that are not ASCII.
                    body.insert(contentsOf: [0x5C, [0x2F, 0x75, 0x5C].randomElement(using: &generator)!] + Array(repeating: 0xFF, count: Int.random(in: 0...64, using: &generator)), at: position)
                case 1: body.remove(at: position)
                case 2: body.insert(interesting.randomElement(using: &generator)!, at: position)
                default: body = Array(body.prefix(position))
                }
                if body.isEmpty { break }
            }
            do {
                let output = try GetRecordsDecoder.decode(body)
                decoded += 1
                // Memory is bounded by the input: decoded data never exceeds the body.
                #expect(output.records.reduce(0) { $0 + $1.data.count } <= body.count)
            } catch {
                #expect(error.code == .malformedResponse)
                rejected += 1
            }
        }
        #expect(decoded + rejected == iterations)
        #expect(rejected > 0)
    }
}
