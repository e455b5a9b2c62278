/// Standard base64 (RFC 4648, `+` and `/`, `=` padding) without allocation per call beyond the
/// output: the decoder writes into a caller's buffer. Its encoder is open to the project's own
/// tools (`@_spi(Tooling)`: `kinesis consume --output jsonl`).
@_spi(Tooling) public enum Base64 {
    static let invalid: UInt8 = 0xFF

    static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: invalid, count: 256)
        for (index, byte) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(byte)] = UInt8(index)
        }
        return table
    }()

    static let encodeTable: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// The most bytes `count` base64 characters can decode to.
    @inline(__always)
    static func maxDecodedCount(_ count: Int) -> Int { (count + 3) / 4 * 3 }

    /// Decodes `input` into `output` (which must have room for `maxDecodedCount(input.count)`
    /// bytes); returns the number of bytes written, or `nil` when `input` is not valid base64
    /// (wrong length, a character outside the alphabet, misplaced padding).
    static func decode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutablePointer<UInt8>) -> Int? {
        var count = input.count
        guard count % 4 == 0 else { return nil }
        if count == 0 { return 0 }
        var padding = 0
        if input[count - 1] == UInt8(ascii: "=") {
            padding = 1
            if input[count - 2] == UInt8(ascii: "=") { padding = 2 }
        }
        count -= 4  // the last quantum is handled apart, for its padding
        return decodeTable.withUnsafeBufferPointer { table -> Int? in
            var written = 0
            var index = 0
            var bad: UInt8 = 0
            while index < count {
                let a = table[Int(input[index])], b = table[Int(input[index + 1])]
                let c = table[Int(input[index + 2])], d = table[Int(input[index + 3])]
                bad |= a | b | c | d
                output[written] = a << 2 | b >> 4
                output[written + 1] = b << 4 | c >> 2
                output[written + 2] = c << 6 | d
                written += 3
                index += 4
            }
            guard bad & 0xC0 == 0 else { return nil }  // 0xFF marks an invalid character
            let a = table[Int(input[index])], b = table[Int(input[index + 1])]
            guard a != invalid, b != invalid else { return nil }
            output[written] = a << 2 | b >> 4
            written += 1
            if padding == 2 {
                guard b & 0x0F == 0 else { return nil }
                return written
            }
            let c = table[Int(input[index + 2])]
            guard c != invalid else { return nil }
            output[written] = b << 4 | c >> 2
            written += 1
            if padding == 1 {
                guard c & 0x03 == 0 else { return nil }
                return written
            }
            let d = table[Int(input[index + 3])]
            guard d != invalid else { return nil }
            output[written] = c << 6 | d
            return written + 1
        }
    }

    /// Decodes `text` into a new array; `nil` when it is not valid base64.
    static func decode(_ text: some StringProtocol) -> [UInt8]? {
        var text = String(text)
        return text.withUTF8 { utf8 in
            var failed = false
            let bytes = [UInt8](unsafeUninitializedCapacity: maxDecodedCount(utf8.count)) { buffer, count in
                if let written = decode(UnsafeRawBufferPointer(utf8), into: buffer.baseAddress!) {
                    count = written
                } else {
                    failed = true
                    count = 0
                }
            }
            return failed ? nil : bytes
        }
    }

    /// Appends the base64 text of `input` to `output`.
    @_spi(Tooling) public static func encode(_ input: some Collection<UInt8>, appendingTo output: inout [UInt8]) {
        output.reserveCapacity(output.count + (input.count + 2) / 3 * 4)
        encodeTable.withUnsafeBufferPointer { table in
            var iterator = input.makeIterator()
            while let a = iterator.next() {
                let b = iterator.next(), c = iterator.next()
                output.append(table[Int(a >> 2)])
                output.append(table[Int((a & 0x03) << 4 | (b ?? 0) >> 4)])
                output.append(b == nil ? UInt8(ascii: "=") : table[Int((b! & 0x0F) << 2 | (c ?? 0) >> 6)])
                output.append(c == nil ? UInt8(ascii: "=") : table[Int(c! & 0x3F)])
            }
        }
    }

    /// The base64 text of `input`.
    static func encode(_ input: some Collection<UInt8>) -> String {
        var output: [UInt8] = []
        encode(input, appendingTo: &output)
        return String(decoding: output, as: UTF8.self)
    }
}
