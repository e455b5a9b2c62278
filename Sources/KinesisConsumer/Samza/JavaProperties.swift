import Dispatch
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A reader for Java `.properties` text, the format of Samza's configuration files.
///
/// It follows `java.util.Properties.load`: natural lines end at `\n`, `\r` or `\r\n`; blank lines
/// and lines whose first non-blank character is `#` or `!` are comments; a line ending in an odd
/// number of backslashes continues on the next (whose leading blanks are skipped); the key ends
/// at the first unescaped `=`, `:` or blank, after which blanks, one `=` or `:`, and blanks again
/// are skipped; `\t`, `\n`, `\r`, `\f` and `\uXXXX` are escapes, and a backslash before any other
/// character stands for that character. A key given twice keeps its last value, as in Java.
///
/// One addition: a line whose first non-blank characters are `//` is a comment too, because
/// Samza's own documentation writes its examples that way (Java would read such a line as a key
/// `//`, which Samza then ignores).
///
/// - Important: `description` and reflection leave out the values of keys that hold secrets
///   (`sensitive.*`, and keys naming a password or secret).
public struct JavaProperties: Sendable, Hashable, CustomStringConvertible, CustomReflectable {
    /// One key and its value, with the line where its logical line began (1-based).
    public struct Entry: Sendable, Hashable, CustomStringConvertible, CustomReflectable {
        public var key: String
        public var value: String
        public var line: Int

        public var description: String { "\(key)=\(JavaProperties.isSecret(key) ? "<redacted>" : value) (line \(line))" }
        public var customMirror: Mirror { Mirror(self, children: ["key": key, "line": line]) }
    }

    /// The entries in file order; for a key given twice, only the last.
    public private(set) var entries: [Entry]

    /// Parses properties text.
    ///
    /// - Throws: ``KinesisConsumerError`` (``KinesisConsumerError/Code/invalidConfiguration``)
    ///   for a malformed `\uXXXX` escape, naming the line.
    public init(parsing text: String, source: String = "properties") throws {
        var entries: [Entry] = []
        var positions: [String: Int] = [:]
        var scalars = Array(text.unicodeScalars)
        if scalars.first == "\u{FEFF}" { scalars.removeFirst() }  // a byte-order mark is not part of the first key
        for logical in Self.logicalLines(scalars) {
            let entry = try Self.entry(logical.scalars, line: logical.line, source: source)
            if let earlier = positions[entry.key] {
                entries[earlier] = entry
            } else {
                positions[entry.key] = entries.count
                entries.append(entry)
            }
        }
        self.entries = entries.sorted { $0.line < $1.line }
    }

    /// Reads and parses a properties file: UTF-8, or ISO-8859-1 (Java's encoding for
    /// `Properties.load(InputStream)`) when the bytes are not UTF-8. Reads on a thread of its own.
    ///
    /// - Throws: ``KinesisConsumerError`` (``KinesisConsumerError/Code/invalidConfiguration``)
    ///   naming the file when it cannot be read.
    public static func load(contentsOf path: String) async throws -> JavaProperties {
        let bytes: [UInt8] = try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                guard let data = FileManager.default.contents(atPath: path) else {
                    continuation.resume(throwing: KinesisConsumerError(
                        code: .invalidConfiguration, message: "cannot read the properties file \(path): it is missing or unreadable"
                    ))
                    return
                }
                continuation.resume(returning: [UInt8](data))
            }
        }
        let text = String(validating: bytes, as: UTF8.self)
            ?? String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
        return try JavaProperties(parsing: text, source: path)
    }

    public var description: String {
        "JavaProperties(" + entries.map { "\($0.key)=\(Self.isSecret($0.key) ? "<redacted>" : $0.value)" }.joined(separator: ", ") + ")"
    }

    public var customMirror: Mirror {
        Mirror(self, children: ["keys": entries.map(\.key)])
    }

    /// Whether the key's value is a secret (Samza's `sensitive.` prefix, or a password or secret).
    static func isSecret(_ key: String) -> Bool {
        let lowered = key.lowercased()
        return lowered.hasPrefix("sensitive.") || lowered.contains("password") || lowered.contains("secret")
    }

    /// The value of `key`, if present.
    public subscript(key: String) -> String? {
        entries.last { $0.key == key }?.value
    }

    private static func isBlank(_ scalar: Unicode.Scalar) -> Bool {
        scalar == " " || scalar == "\t" || scalar == "\u{0C}"
    }

    private static func isLineEnd(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "\n" || scalar == "\r"
    }

    /// Splits text into logical lines (continuations joined, the backslash removed, comments and
    /// blank lines dropped), each with the number of the line it began on.
    private static func logicalLines(_ text: [Unicode.Scalar]) -> [(scalars: [Unicode.Scalar], line: Int)] {
        var result: [(scalars: [Unicode.Scalar], line: Int)] = []
        var index = 0
        var lineNumber = 1
        func nextNaturalLine() -> (content: ArraySlice<Unicode.Scalar>, number: Int)? {
            guard index < text.count else { return nil }
            let start = index
            while index < text.count, !isLineEnd(text[index]) { index += 1 }
            let content = text[start..<index]
            let number = lineNumber
            if index < text.count {
                if text[index] == "\r", index + 1 < text.count, text[index + 1] == "\n" { index += 1 }
                index += 1
                lineNumber += 1
            }
            return (content, number)
        }
        while let natural = nextNaturalLine() {
            var content = natural.content.drop { isBlank($0) }
            guard let first = content.first else { continue }
            if first == "#" || first == "!" { continue }
            if first == "/", content.dropFirst().first == "/" { continue }
            var logical: [Unicode.Scalar] = []
            while true {
                let trailingBackslashes = content.reversed().prefix { $0 == "\\" }.count
                if trailingBackslashes % 2 == 1 {
                    logical.append(contentsOf: content.dropLast())
                    guard let next = nextNaturalLine() else { break }
                    content = next.content.drop { isBlank($0) }
                } else {
                    logical.append(contentsOf: content)
                    break
                }
            }
            result.append((logical, natural.number))
        }
        return result
    }

    /// Splits a logical line into key and value and resolves their escapes.
    private static func entry(_ scalars: [Unicode.Scalar], line: Int, source: String) throws -> Entry {
        var keyEnd = 0
        var escaped = false
        while keyEnd < scalars.count {
            let scalar = scalars[keyEnd]
            if escaped {
                escaped = false
            } else if scalar == "\\" {
                escaped = true
            } else if scalar == "=" || scalar == ":" || isBlank(scalar) {
                break
            }
            keyEnd += 1
        }
        var valueStart = keyEnd
        while valueStart < scalars.count, isBlank(scalars[valueStart]) { valueStart += 1 }
        if valueStart < scalars.count, scalars[valueStart] == "=" || scalars[valueStart] == ":" {
            valueStart += 1
            while valueStart < scalars.count, isBlank(scalars[valueStart]) { valueStart += 1 }
        }
        let key = try unescape(scalars[..<keyEnd], line: line, source: source)
        let value = try unescape(scalars[valueStart...], line: line, source: source)
        return Entry(key: key, value: value, line: line)
    }

    private static func unescape(_ scalars: ArraySlice<Unicode.Scalar>, line: Int, source: String) throws -> String {
        var result = String.UnicodeScalarView()
        var index = scalars.startIndex
        while index < scalars.endIndex {
            let scalar = scalars[index]
            index += 1
            guard scalar == "\\" else {
                result.append(scalar)
                continue
            }
            guard index < scalars.endIndex else { break }
            let escape = scalars[index]
            index += 1
            switch escape {
            case "t": result.append("\t")
            case "n": result.append("\n")
            case "r": result.append("\r")
            case "f": result.append("\u{0C}")
            case "u":
                func hex(at start: Int) -> UInt32? {
                    let digits = scalars[start..<min(start + 4, scalars.endIndex)]
                    guard digits.count == 4 else { return nil }
                    return UInt32(String(String.UnicodeScalarView(digits)), radix: 16)
                }
                let malformed = KinesisConsumerError(
                    code: .invalidConfiguration,
                    message: "\(source):\(line): malformed \\uXXXX escape; accepted: \\u followed by four hexadecimal digits (a surrogate pair as two escapes)"
                )
                guard let code = hex(at: index) else { throw malformed }
                index += 4
                if let scalar = Unicode.Scalar(code) {
                    result.append(scalar)
                } else if (0xD800...0xDBFF).contains(code), index + 1 < scalars.endIndex, scalars[index] == "\\", scalars[index + 1] == "u",
                          let low = hex(at: index + 2), (0xDC00...0xDFFF).contains(low),
                          let scalar = Unicode.Scalar(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)) {
                    // A UTF-16 surrogate pair, as Java (and native2ascii) writes characters beyond U+FFFF.
                    result.append(scalar)
                    index += 6
                } else {
                    throw malformed
                }
            default: result.append(escape)
            }
        }
        return String(result)
    }
}
