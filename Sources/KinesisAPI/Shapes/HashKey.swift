import AWSCore

/// Hash keys: 128-bit unsigned values that route partition keys to shards.
///
/// A partition key's hash key is the MD5 of its UTF-8 bytes read as a big-endian 128-bit integer.
/// Shards own inclusive ranges of hash keys covering `0 ... 2^128 - 1`. Comparisons are exact
/// (`UInt128`, no floating point).
public enum HashKey {
    /// The hash key Kinesis assigns to `partitionKey`.
    public static func of(partitionKey: String) -> UInt128 {
        let digest = Hashing.md5(partitionKey.utf8)
        return digest.reduce(UInt128(0)) { $0 << 8 | UInt128($1) }
    }

    /// Parses a decimal hash key (as the API writes them); `nil` when it is not a decimal number
    /// in `0 ... 2^128 - 1`.
    public static func parse(_ text: some StringProtocol) -> UInt128? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return UInt128(text)
    }
}

/// An inclusive range of hash keys owned by a shard.
public struct HashKeyRange: Sendable, Hashable, Codable, CustomStringConvertible {
    public var startingHashKey: UInt128
    public var endingHashKey: UInt128

    public init(startingHashKey: UInt128, endingHashKey: UInt128) {
        self.startingHashKey = startingHashKey
        self.endingHashKey = endingHashKey
    }

    /// Whether `hashKey` lies in the range (both ends included).
    public func contains(_ hashKey: UInt128) -> Bool {
        startingHashKey <= hashKey && hashKey <= endingHashKey
    }

    public var description: String { "\(startingHashKey)...\(endingHashKey)" }

    enum CodingKeys: String, CodingKey {
        case startingHashKey = "StartingHashKey", endingHashKey = "EndingHashKey"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        startingHashKey = try container.decodeHashKey(forKey: .startingHashKey)
        endingHashKey = try container.decodeHashKey(forKey: .endingHashKey)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(startingHashKey.description, forKey: .startingHashKey)
        try container.encode(endingHashKey.description, forKey: .endingHashKey)
    }
}

extension KeyedDecodingContainer {
    func decodeHashKey(forKey key: Key) throws -> UInt128 {
        let text = try decode(String.self, forKey: key)
        guard let value = HashKey.parse(text) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "'\(text.prefix(50))' is not a hash key (a decimal number below 2^128)")
        }
        return value
    }
}
