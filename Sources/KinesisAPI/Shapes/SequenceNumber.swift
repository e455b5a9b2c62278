/// A Kinesis sequence number: a decimal string of up to 129 digits (56 today), unique within a
/// stream and increasing within a shard.
///
/// Never parsed into a fixed-width integer: ordering compares the digits (shorter is smaller,
/// then digit by digit), which is exact for numbers of any length.
public struct SequenceNumber: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    /// The digits, without leading zeros (except `"0"` itself).
    public let rawValue: String

    /// Accepts a string of decimal digits (leading zeros are dropped) of at most 129 significant
    /// digits, as the API allows; `nil` for anything else.
    public init?(_ text: some StringProtocol) {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        let significant = text.drop { $0 == "0" }
        guard significant.utf8.count <= 129 else { return nil }
        rawValue = significant.isEmpty ? "0" : String(significant)
    }

    /// Wraps digits already validated by a decoder.
    init(validatedDigits: String) {
        rawValue = validatedDigits
    }

    public var description: String { rawValue }

    public static func < (lhs: SequenceNumber, rhs: SequenceNumber) -> Bool {
        let left = lhs.rawValue.utf8, right = rhs.rawValue.utf8
        if left.count != right.count { return left.count < right.count }
        for (a, b) in zip(left, right) where a != b { return a < b }
        return false
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = SequenceNumber(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(text.prefix(40))' is not a sequence number (decimal digits)"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
