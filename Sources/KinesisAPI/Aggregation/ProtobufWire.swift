/// Just enough of the protobuf wire format for the KPL aggregated record: varints and
/// length-delimited fields, with every length and index checked against the input.
struct ProtobufReader {
    struct Failure: Error {
        var message: String
    }

    enum WireType: UInt8 {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, fixed32 = 5
    }

    let bytes: ArraySlice<UInt8>
    var index: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.index = bytes.startIndex
    }

    var isAtEnd: Bool { index >= bytes.endIndex }

    mutating func readVarint() throws(Failure) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard index < bytes.endIndex else { throw Failure(message: "truncated varint") }
            let byte = bytes[index]
            index += 1
            guard shift < 64 else { throw Failure(message: "varint longer than 10 bytes") }
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
    }

    /// The next field's number and wire type.
    mutating func readTag() throws(Failure) -> (field: UInt64, wireType: WireType) {
        let tag = try readVarint()
        guard let wireType = WireType(rawValue: UInt8(tag & 0x07)) else {
            throw Failure(message: "unsupported wire type \(tag & 0x07)")
        }
        let field = tag >> 3
        guard field > 0 else { throw Failure(message: "field number 0") }
        return (field, wireType)
    }

    /// A length-delimited field's bytes, as a slice of the input.
    mutating func readLengthDelimited() throws(Failure) -> ArraySlice<UInt8> {
        let length = try readVarint()
        guard length <= UInt64(bytes.endIndex - index) else {
            throw Failure(message: "a field's length (\(length)) runs past the end of the record")
        }
        let start = index
        index += Int(length)
        return bytes[start..<index]
    }

    mutating func skip(_ wireType: WireType) throws(Failure) {
        switch wireType {
        case .varint: _ = try readVarint()
        case .lengthDelimited: _ = try readLengthDelimited()
        case .fixed64: try advance(8)
        case .fixed32: try advance(4)
        }
    }

    private mutating func advance(_ count: Int) throws(Failure) {
        guard bytes.endIndex - index >= count else { throw Failure(message: "truncated fixed-width field") }
        index += count
    }
}

/// Appends protobuf fields to a byte array.
struct ProtobufWriter {
    var bytes: [UInt8] = []

    static func varintSize(_ value: UInt64) -> Int {
        var value = value
        var size = 1
        while value >= 0x80 {
            value >>= 7
            size += 1
        }
        return size
    }

    mutating func writeVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    mutating func writeTag(field: UInt64, wireType: ProtobufReader.WireType) {
        writeVarint(field << 3 | UInt64(wireType.rawValue))
    }

    mutating func writeLengthDelimited(field: UInt64, _ payload: some Collection<UInt8>) {
        writeTag(field: field, wireType: .lengthDelimited)
        writeVarint(UInt64(payload.count))
        bytes.append(contentsOf: payload)
    }

    mutating func writeVarintField(field: UInt64, _ value: UInt64) {
        writeTag(field: field, wireType: .varint)
        writeVarint(value)
    }

    /// The size of a length-delimited field with a payload of `count` bytes (field numbers below 16).
    static func lengthDelimitedFieldSize(_ count: Int) -> Int {
        1 + varintSize(UInt64(count)) + count
    }
}
