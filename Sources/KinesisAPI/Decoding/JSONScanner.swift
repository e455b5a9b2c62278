#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A forward-only JSON reader over raw bytes, for the one response shape that is hot
/// (`GetRecords`). Strings come back as byte ranges; nothing is allocated unless asked.
struct JSONScanner {
    struct Failure: Error {
        var message: String
        var offset: Int
    }

    let bytes: UnsafeRawBufferPointer
    var index = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    func fail(_ message: String) -> Failure {
        Failure(message: message, offset: index)
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    /// The next non-space byte, not consumed; `nil` at the end.
    @inline(__always)
    mutating func peek() -> UInt8? {
        skipWhitespace()
        return index < bytes.count ? bytes[index] : nil
    }

    @inline(__always)
    mutating func expect(_ byte: UInt8) throws(Failure) {
        guard peek() == byte else {
            throw fail("expected '\(Character(Unicode.Scalar(byte)))'")
        }
        index += 1
    }

    /// Consumes `byte` if it is next.
    @inline(__always)
    mutating func consume(_ byte: UInt8) -> Bool {
        guard peek() == byte else { return false }
        index += 1
        return true
    }

    /// Consumes `null` if it is next.
    mutating func consumeNull() -> Bool {
        guard peek() == UInt8(ascii: "n"), index + 4 <= bytes.count,
            bytes[index + 1] == UInt8(ascii: "u"), bytes[index + 2] == UInt8(ascii: "l"), bytes[index + 3] == UInt8(ascii: "l")
        else { return false }
        index += 4
        return true
    }

    /// A string token: the range of its raw contents (between the quotes) and whether it has escapes.
    struct RawString {
        var range: Range<Int>
        var hasEscapes: Bool
    }

    mutating func readString() throws(Failure) -> RawString {
        try expect(UInt8(ascii: "\""))
        let start = index
        var hasEscapes = false
        let base = bytes.baseAddress!
        let count = bytes.count
        while true {
            // Eight bytes at a time while none of them is a quote, a backslash or a control byte.
            while index + 8 <= count, !Self.mayHoldSpecialByte(UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)) {
                index += 8
            }
            guard index < count else { throw fail("unterminated string") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let range = start..<index
                index += 1
                return RawString(range: range, hasEscapes: hasEscapes)
            }
            if byte == UInt8(ascii: "\\") {
                hasEscapes = true
                index += 2
                continue
            }
            if byte < 0x20 { throw fail("control character in a string") }
            index += 1
        }
    }

    /// Whether any byte of `word` may be `"`, `\` or below 0x20 (no false negatives; a rare false
    /// positive only sends the caller to its byte-by-byte path).
    @inline(__always)
    static func mayHoldSpecialByte(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let quotes = word ^ (ones &* 0x22)
        let backslashes = word ^ (ones &* 0x5C)
        let zeroQuote = (quotes &- ones) & ~quotes
        let zeroBackslash = (backslashes &- ones) & ~backslashes
        let control = (word &- ones &* 0x20) & ~word
        return (zeroQuote | zeroBackslash | control) & highs != 0
    }

    /// The raw bytes of a string token.
    func slice(_ string: RawString) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[string.range])
    }

    /// The string's value, escapes decoded.
    func value(of string: RawString) throws(Failure) -> String {
        let raw = slice(string)
        guard string.hasEscapes else { return String(decoding: raw, as: UTF8.self) }
        return try Self.unescape(raw, offset: string.range.lowerBound)
    }

    /// The string's value with escapes decoded, when it is all ASCII (as base64 text is, even when a
    /// writer escaped its `/` as `\/`); `nil` when it holds anything else. Never longer than the
    /// raw string.
    func unescapedASCII(of string: RawString) -> [UInt8]? {
        let raw = slice(string)
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var index = 0
        while index < raw.count {
            let byte = raw[index]
            guard byte < 0x80 else { return nil }
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                index += 1
                continue
            }
            guard index + 1 < raw.count else { return nil }
            switch raw[index + 1] {
            case UInt8(ascii: "/"), UInt8(ascii: "\\"), UInt8(ascii: "\""):
                out.append(raw[index + 1])
                index += 2
            case UInt8(ascii: "u"):
                guard index + 6 <= raw.count, let code = UInt8(String(decoding: UnsafeRawBufferPointer(rebasing: raw[(index + 2)..<(index + 6)]), as: UTF8.self), radix: 16), code < 0x80 else { return nil }
                out.append(code)
                index += 6
            default:
                return nil
            }
        }
        return out
    }

    static func unescape(_ raw: UnsafeRawBufferPointer, offset: Int) throws(Failure) -> String {
        var scalars = String.UnicodeScalarView()
        var utf8: [UInt8] = []
        var index = 0
        func flush() {
            if !utf8.isEmpty {
                scalars.append(contentsOf: String(decoding: utf8, as: UTF8.self).unicodeScalars)
                utf8.removeAll(keepingCapacity: true)
            }
        }
        func hex4(_ at: Int) throws(Failure) -> UInt32 {
            guard at + 4 <= raw.count else { throw Failure(message: "truncated \\u escape", offset: offset + at) }
            var value: UInt32 = 0
            for byte in raw[at..<(at + 4)] {
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: throw Failure(message: "invalid \\u escape", offset: offset + at)
                }
                value = value << 4 | digit
            }
            return value
        }
        while index < raw.count {
            let byte = raw[index]
            guard byte == UInt8(ascii: "\\") else {
                utf8.append(byte)
                index += 1
                continue
            }
            guard index + 1 < raw.count else { throw Failure(message: "truncated escape", offset: offset + index) }
            let kind = raw[index + 1]
            index += 2
            switch kind {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(kind)
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                var code = try hex4(index)
                index += 4
                if (0xD800...0xDBFF).contains(code), index + 6 <= raw.count, raw[index] == UInt8(ascii: "\\"), raw[index + 1] == UInt8(ascii: "u") {
                    let low = try hex4(index + 2)
                    if (0xDC00...0xDFFF).contains(low) {
                        code = 0x10000 + (code - 0xD800) << 10 + (low - 0xDC00)
                        index += 6
                    }
                }
                flush()
                scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            default:
                throw Failure(message: "invalid escape", offset: offset + index - 1)
            }
        }
        flush()
        return String(scalars)
    }

    /// A number token's raw bytes.
    mutating func readNumberToken() throws(Failure) -> Range<Int> {
        skipWhitespace()
        let start = index
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"):
                index += 1
            default:
                guard index > start else { throw fail("expected a number") }
                return start..<index
            }
        }
        guard index > start else { throw fail("expected a number") }
        return start..<index
    }

    private static let exactPowersOfTen: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ]

    /// A JSON number as a `Double`: exact fast path for up to 15 significant digits and small
    /// exponents (the timestamps Kinesis writes, such as `1.441215410867E9`), else the platform's
    /// correctly-rounded conversion.
    mutating func readDouble() throws(Failure) -> Double {
        let range = try readNumberToken()
        var index = range.lowerBound
        var negative = false
        if bytes[index] == UInt8(ascii: "-") { negative = true; index += 1 }
        var mantissa: UInt64 = 0
        var digits = 0
        var exponent = 0
        var sawDigit = false
        while index < range.upperBound, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
            mantissa = mantissa &* 10 &+ UInt64(bytes[index] - UInt8(ascii: "0"))
            if mantissa != 0 { digits += 1 }
            sawDigit = true
            index += 1
        }
        if index < range.upperBound, bytes[index] == UInt8(ascii: ".") {
            index += 1
            while index < range.upperBound, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                mantissa = mantissa &* 10 &+ UInt64(bytes[index] - UInt8(ascii: "0"))
                if mantissa != 0 { digits += 1 }
                exponent -= 1
                sawDigit = true
                index += 1
            }
        }
        var fastPath = sawDigit && digits <= 15
        if index < range.upperBound, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            var exponentNegative = false
            if index < range.upperBound, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                exponentNegative = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            var value = 0
            var sawExponentDigit = false
            while index < range.upperBound, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                value = min(value * 10 + Int(bytes[index] - UInt8(ascii: "0")), 100_000)
                sawExponentDigit = true
                index += 1
            }
            if !sawExponentDigit { fastPath = false }
            exponent += exponentNegative ? -value : value
        }
        if index != range.upperBound { fastPath = false }
        if fastPath, abs(exponent) <= 22 {
            let magnitude = exponent < 0 ? Double(mantissa) / Self.exactPowersOfTen[-exponent] : Double(mantissa) * Self.exactPowersOfTen[exponent]
            return negative ? -magnitude : magnitude
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else {
            throw Failure(message: "invalid number '\(text.prefix(40))'", offset: range.lowerBound)
        }
        return value
    }

    /// A JSON integer as `Int64`.
    mutating func readInt64() throws(Failure) -> Int64 {
        let range = try readNumberToken()
        var value: Int64 = 0
        var index = range.lowerBound
        let negative = bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        guard index < range.upperBound else { throw Failure(message: "invalid integer", offset: range.lowerBound) }
        while index < range.upperBound {
            let byte = bytes[index]
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else {
                // Accept integral values written as decimals (`12.0`, `1E3`).
                index = range.lowerBound
                self.index = range.lowerBound
                let double = try readDouble()
                guard double.rounded() == double, abs(double) < 9.2e18 else {
                    throw Failure(message: "not an integer", offset: range.lowerBound)
                }
                return Int64(double)
            }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { throw Failure(message: "integer out of range", offset: range.lowerBound) }
            value = sum
            index += 1
        }
        return negative ? -value : value
    }

    /// Skips one value of any type, checking its syntax; nesting is bounded.
    mutating func skipValue(depth: Int = 0) throws(Failure) {
        guard depth < 64 else { throw fail("nesting deeper than 64") }
        guard let byte = peek() else { throw fail("expected a value") }
        switch byte {
        case UInt8(ascii: "\""):
            _ = try readString()
        case UInt8(ascii: "{"):
            index += 1
            if consume(UInt8(ascii: "}")) { return }
            repeat {
                _ = try readString()
                try expect(UInt8(ascii: ":"))
                try skipValue(depth: depth + 1)
            } while consume(UInt8(ascii: ","))
            try expect(UInt8(ascii: "}"))
        case UInt8(ascii: "["):
            index += 1
            if consume(UInt8(ascii: "]")) { return }
            repeat {
                try skipValue(depth: depth + 1)
            } while consume(UInt8(ascii: ","))
            try expect(UInt8(ascii: "]"))
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default:
            _ = try readNumberToken()
        }
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let length = word.utf8CodeUnitCount
        guard index + length <= bytes.count,
            memcmp(bytes.baseAddress! + index, word.utf8Start, length) == 0
        else { throw fail("invalid literal") }
        index += length
    }

    /// Whether the raw bytes of `string` equal `key` (keys without escapes).
    @inline(__always)
    func equals(_ string: RawString, _ key: StaticString) -> Bool {
        let length = key.utf8CodeUnitCount
        return string.range.count == length && !string.hasEscapes
            && memcmp(bytes.baseAddress! + string.range.lowerBound, key.utf8Start, length) == 0
    }
}
