internal import COpenSSL

/// One-shot message digests and HMAC through OpenSSL's libcrypto (EVP and `HMAC()`, no deprecated APIs).
///
/// These are the only cryptographic primitives the library needs: SHA-256 and HMAC-SHA256 for
/// Signature Version 4, MD5 for Kinesis partition-key hashing and the KPL aggregation checksum.
public enum Hashing {
    /// The SHA-256 digest (32 bytes) of `bytes`.
    public static func sha256(_ bytes: some DigestInput) -> [UInt8] {
        digest(bytes, EVP_sha256(), length: 32)
    }

    /// The MD5 digest (16 bytes) of `bytes`. Not for security: Kinesis uses it to map partition keys to hash keys.
    public static func md5(_ bytes: some DigestInput) -> [UInt8] {
        digest(bytes, EVP_md5(), length: 16)
    }

    /// HMAC-SHA256 (32 bytes) of `data` under `key`.
    public static func hmacSHA256(key: some DigestInput, data: some DigestInput) -> [UInt8] {
        key.withUnsafeBytes { keyBuffer in
            data.withUnsafeBytes { dataBuffer in
                [UInt8](unsafeUninitializedCapacity: 32) { output, count in
                    var length: UInt32 = 0
                    let result = HMAC(
                        EVP_sha256(),
                        keyBuffer.baseAddress, Int32(keyBuffer.count),
                        dataBuffer.baseAddress?.assumingMemoryBound(to: UInt8.self), dataBuffer.count,
                        output.baseAddress, &length
                    )
                    precondition(result != nil && length == 32, "OpenSSL HMAC-SHA256 failed")
                    count = Int(length)
                }
            }
        }
    }

    private static func digest(_ bytes: some DigestInput, _ type: OpaquePointer?, length: Int) -> [UInt8] {
        bytes.withUnsafeBytes { buffer in
            [UInt8](unsafeUninitializedCapacity: length) { output, count in
                var written: UInt32 = 0
                let ok = EVP_Digest(buffer.baseAddress, buffer.count, output.baseAddress, &written, type, nil)
                precondition(ok == 1 && Int(written) == length, "OpenSSL EVP_Digest failed")
                count = Int(written)
            }
        }
    }
}

extension Hashing {
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Lower-case hexadecimal text of `bytes`, as SigV4 writes digests and signatures.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(hexDigits[Int(byte >> 4)])
            out.append(hexDigits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Byte containers the hashing functions accept without copying.
public protocol DigestInput {
    /// Calls `body` with the bytes.
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}

extension Array: DigestInput where Element == UInt8 {}
extension ArraySlice: DigestInput where Element == UInt8 {}
extension ContiguousArray: DigestInput where Element == UInt8 {}
extension UnsafeRawBufferPointer: DigestInput {}
extension String.UTF8View: DigestInput {
    /// Calls `body` with the UTF-8 bytes (copied only if the string is not stored contiguously).
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        if let result = try withContiguousStorageIfAvailable({ try body(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return try Array(self).withUnsafeBytes(body)
    }
}
