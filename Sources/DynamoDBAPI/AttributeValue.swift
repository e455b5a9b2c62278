#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A DynamoDB attribute value, in DynamoDB's JSON form (`{"S": "text"}`, `{"N": "42"}`, ...).
///
/// Numbers stay decimal strings, as DynamoDB sends them, so that nothing is lost to `Double`.
public enum AttributeValue: Sendable, Hashable, Codable {
    case string(String)
    case number(String)
    case binary([UInt8])
    case stringSet([String])
    case numberSet([String])
    case binarySet([[UInt8]])
    case bool(Bool)
    case null
    case map([String: AttributeValue])
    case list([AttributeValue])

    /// An `N` value from an integer.
    public static func number(_ value: some BinaryInteger) -> AttributeValue { .number(String(value)) }

    enum CodingKeys: String, CodingKey {
        case s = "S", n = "N", b = "B", ss = "SS", ns = "NS", bs = "BS", bool = "BOOL", null = "NULL", m = "M", l = "L"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard let key = container.allKeys.first, container.allKeys.count == 1 else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "an attribute value has exactly one type key (S, N, B, SS, NS, BS, BOOL, NULL, M or L)"))
        }
        switch key {
        case .s: self = .string(try container.decode(String.self, forKey: key))
        case .n: self = .number(try container.decode(String.self, forKey: key))
        case .b: self = .binary(try Self.bytes(container.decode(String.self, forKey: key), decoder))
        case .ss: self = .stringSet(try container.decode([String].self, forKey: key))
        case .ns: self = .numberSet(try container.decode([String].self, forKey: key))
        case .bs: self = .binarySet(try container.decode([String].self, forKey: key).map { try Self.bytes($0, decoder) })
        case .bool: self = .bool(try container.decode(Bool.self, forKey: key))
        case .null: self = .null
        case .m: self = .map(try container.decode([String: AttributeValue].self, forKey: key))
        case .l: self = .list(try container.decode([AttributeValue].self, forKey: key))
        }
    }

    private static func bytes(_ text: String, _ decoder: any Decoder) throws -> [UInt8] {
        guard let data = Data(base64Encoded: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "a B value is not base64"))
        }
        return Array(data)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .string(let value): try container.encode(value, forKey: .s)
        case .number(let value): try container.encode(value, forKey: .n)
        case .binary(let value): try container.encode(Data(value).base64EncodedString(), forKey: .b)
        case .stringSet(let value): try container.encode(value, forKey: .ss)
        case .numberSet(let value): try container.encode(value, forKey: .ns)
        case .binarySet(let value): try container.encode(value.map { Data($0).base64EncodedString() }, forKey: .bs)
        case .bool(let value): try container.encode(value, forKey: .bool)
        case .null: try container.encode(true, forKey: .null)
        case .map(let value): try container.encode(value, forKey: .m)
        case .list(let value): try container.encode(value, forKey: .l)
        }
    }

    /// The string of an `S` value.
    public var stringValue: String? { if case .string(let value) = self { value } else { nil } }
    /// The integer of an `N` value, when it is one that fits.
    public var int64Value: Int64? { if case .number(let value) = self { Int64(value) } else { nil } }
    /// The strings of an `SS` value.
    public var stringSetValue: [String]? { if case .stringSet(let value) = self { value } else { nil } }
}

/// An item: attribute names to values.
public typealias Item = [String: AttributeValue]
