#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import AWSCore

/// Decodes a `GetRecords` response body in one pass over its bytes.
///
/// Every record's base64 `Data` is decoded into one buffer shared by the batch (each
/// ``Record/data`` is a slice of it), so the only allocations per record are its partition key and
/// sequence number strings when they are too long to be stored inline. `ChildShards`, which appears
/// once per shard's life, goes through `JSONDecoder`.
public enum GetRecordsDecoder {
    /// Decodes `body`; throws ``AWSError/Code/malformedResponse`` naming the problem and where it is.
    public static func decode(_ body: [UInt8]) throws(AWSError) -> GetRecordsOutput {
        do {
            return try body.withUnsafeBytes { raw in try decode(raw) }
        } catch let error as DecodeFailure {
            throw AWSError(code: .malformedResponse, message: "GetRecords response: \(error.message)")
        } catch {
            throw AWSError(code: .malformedResponse, message: "GetRecords response: \(error)")
        }
    }

    struct DecodeFailure: Error {
        var message: String
    }

    private struct PendingRecord {
        var sequenceNumber: SequenceNumber
        var partitionKey: String
        var data: Range<Int>
        var arrival: Double?
        var encryptionType: EncryptionType?
    }

    static func decode(_ raw: UnsafeRawBufferPointer) throws(DecodeFailure) -> GetRecordsOutput {
        var pending: [PendingRecord] = []
        var nextShardIterator: String?
        var millisBehindLatest: Int64?
        var childShards: [ChildShard]?
        var sawRecords = false
        var failure: DecodeFailure?
        let capacity = Base64.maxDecodedCount(raw.count)

        // All base64 in the body decodes to at most 3/4 of the body's size.
        var storage = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, written in
            written = 0
            var scanner = JSONScanner(raw)
            do {
                try scanner.expect(UInt8(ascii: "{"))
                if !scanner.consume(UInt8(ascii: "}")) {
                    repeat {
                        let key = try scanner.readString()
                        try scanner.expect(UInt8(ascii: ":"))
                        if scanner.equals(key, "Records") {
                            sawRecords = true
                            try readRecords(&scanner, into: buffer, written: &written, pending: &pending)
                        } else if scanner.equals(key, "NextShardIterator") {
                            nextShardIterator = scanner.consumeNull() ? nil : try scanner.value(of: try scanner.readString())
                        } else if scanner.equals(key, "MillisBehindLatest") {
                            millisBehindLatest = scanner.consumeNull() ? nil : try scanner.readInt64()
                        } else if scanner.equals(key, "ChildShards") {
                            let start = scanner.index
                            try scanner.skipValue()
                            childShards = try decodeChildShards(UnsafeRawBufferPointer(rebasing: raw[start..<scanner.index]))
                        } else {
                            try scanner.skipValue()
                        }
                    } while scanner.consume(UInt8(ascii: ","))
                    try scanner.expect(UInt8(ascii: "}"))
                }
                guard scanner.peek() == nil else { throw scanner.fail("unexpected data after the response object") }
                // AWS always sends Records (empty at the tip or the end of a shard). Without it, this
                // is not a GetRecords answer (a proxy's `{}`, say), and a missing NextShardIterator
                // must not be taken for the end of the shard.
                guard sawRecords else { throw DecodeFailure(message: "the response has no Records") }
            } catch let error as JSONScanner.Failure {
                failure = DecodeFailure(message: "not valid JSON: \(error.message) at byte \(error.offset)")
            } catch let error as DecodeFailure {
                failure = error
            } catch {
                failure = DecodeFailure(message: "\(error)")
            }
        }
        if let failure { throw failure }
        // The buffer was sized for the worst case (all of the body base64); when the data took much
        // less, keep only what it took: one copy, so that records do not pin the difference.
        let used = pending.last?.data.upperBound ?? 0
        if used < capacity / 2 {
            storage = Array(storage[..<used])
        }
        let records = pending.map { record in
            Record(
                sequenceNumber: record.sequenceNumber,
                partitionKey: record.partitionKey,
                data: storage[record.data],
                approximateArrivalTimestamp: record.arrival.map { Date(timeIntervalSince1970: $0) },
                encryptionType: record.encryptionType
            )
        }
        return GetRecordsOutput(records: records, nextShardIterator: nextShardIterator, millisBehindLatest: millisBehindLatest, childShards: childShards)
    }

    private static func readRecords(
        _ scanner: inout JSONScanner,
        into output: UnsafeMutableBufferPointer<UInt8>,
        written: inout Int,
        pending: inout [PendingRecord]
    ) throws -> Void {
        if scanner.consumeNull() { return }
        try scanner.expect(UInt8(ascii: "["))
        if scanner.consume(UInt8(ascii: "]")) { return }
        pending.reserveCapacity(1024)
        repeat {
            let position = pending.count
            try scanner.expect(UInt8(ascii: "{"))
            var sequenceNumber: SequenceNumber?
            var partitionKey: String?
            var data: Range<Int>?
            var arrival: Double?
            var encryptionType: EncryptionType?
            if !scanner.consume(UInt8(ascii: "}")) {
                repeat {
                    let key = try scanner.readString()
                    try scanner.expect(UInt8(ascii: ":"))
                    if scanner.equals(key, "Data") {
                        let text = try scanner.readString()
                        let start = written
                        let decoded: Int?
                        func decode(_ base64: UnsafeRawBufferPointer) throws -> Int? {
                            // Never past the buffer, whatever the input (sized for all of the body).
                            guard start + Base64.maxDecodedCount(base64.count) <= output.count else {
                                throw DecodeFailure(message: "record \(position): Data is larger than the response could hold")
                            }
                            return Base64.decode(base64, into: output.baseAddress! + start)
                        }
                        if text.hasEscapes {
                            guard let unescaped = scanner.unescapedASCII(of: text) else {
                                throw DecodeFailure(message: "record \(position): Data is not valid base64")
                            }
                            decoded = try unescaped.withUnsafeBytes { try decode($0) }
                        } else {
                            decoded = try decode(scanner.slice(text))
                        }
                        guard let decoded else {
                            throw DecodeFailure(message: "record \(position): Data is not valid base64")
                        }
                        written += decoded
                        data = start..<written
                    } else if scanner.equals(key, "SequenceNumber") {
                        let text = try scanner.readString()
                        let digits = scanner.slice(text)
                        if !text.hasEscapes, digits.count > 0, digits.count <= 129, digits[0] != UInt8(ascii: "0"),
                            digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
                        {
                            sequenceNumber = SequenceNumber(validatedDigits: String(decoding: digits, as: UTF8.self))
                        } else {
                            let value = try scanner.value(of: text)
                            guard let parsed = SequenceNumber(value) else {
                                throw DecodeFailure(message: "record \(position): SequenceNumber '\(value.prefix(60))' is not a sequence number")
                            }
                            sequenceNumber = parsed
                        }
                    } else if scanner.equals(key, "PartitionKey") {
                        partitionKey = try scanner.value(of: try scanner.readString())
                    } else if scanner.equals(key, "ApproximateArrivalTimestamp") {
                        arrival = scanner.consumeNull() ? nil : try scanner.readDouble()
                    } else if scanner.equals(key, "EncryptionType") {
                        if !scanner.consumeNull() {
                            let text = try scanner.readString()
                            if scanner.equals(text, "NONE") {
                                encryptionType = EncryptionType.none
                            } else if scanner.equals(text, "KMS") {
                                encryptionType = .kms
                            } else {
                                encryptionType = EncryptionType(rawValue: try scanner.value(of: text))
                            }
                        }
                    } else {
                        try scanner.skipValue()
                    }
                } while scanner.consume(UInt8(ascii: ","))
                try scanner.expect(UInt8(ascii: "}"))
            }
            guard let sequenceNumber else { throw DecodeFailure(message: "record \(position) has no SequenceNumber") }
            guard let partitionKey else { throw DecodeFailure(message: "record \(position) (sequence number \(sequenceNumber)) has no PartitionKey") }
            guard let data else { throw DecodeFailure(message: "record \(position) (sequence number \(sequenceNumber)) has no Data") }
            pending.append(PendingRecord(sequenceNumber: sequenceNumber, partitionKey: partitionKey, data: data, arrival: arrival, encryptionType: encryptionType))
        } while scanner.consume(UInt8(ascii: ","))
        try scanner.expect(UInt8(ascii: "]"))
    }

    private static func decodeChildShards(_ raw: UnsafeRawBufferPointer) throws(DecodeFailure) -> [ChildShard]? {
        do {
            return try JSONDecoder().decode([ChildShard]?.self, from: Data(raw))
        } catch {
            throw DecodeFailure(message: "ChildShards is malformed: \(error)")
        }
    }
}
