#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A minimal HTTP/1.1 keep-alive server on 127.0.0.1 for the transport benchmarks: a thread per
/// connection, every request answered with the same small JSON body. Fast enough that the client is
/// what gets measured.
final class LoopbackHTTPServer: @unchecked Sendable {
    // Immutable after init; each connection's state lives on its own thread's stack.
    let port: Int
    private let listener: Int32
    static let body = Array(#"{"StreamNames":["orders","payments"],"HasMoreStreams":false}"#.utf8)
    static let response: [UInt8] = Array("HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-RequestId: bench\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body

    init() {
        (listener, port) = Self.listen()
        var thread = pthread_t()
        pthread_create(&thread, nil, { context in
            Unmanaged<LoopbackHTTPServer>.fromOpaque(context!).takeRetainedValue().acceptLoop()
            return nil
        }, Unmanaged.passRetained(self).toOpaque())
        pthread_detach(thread)
    }

    private static func listen() -> (Int32, Int) {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } }
        Glibc.listen(listener, 256)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        return (listener, Int(UInt16(bigEndian: address.sin_port)))
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            var yes: Int32 = 1
            setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &yes, socklen_t(MemoryLayout<Int32>.size))
            var thread = pthread_t()
            pthread_create(&thread, nil, { context in
                let fd = Int32(Int(bitPattern: context))
                LoopbackHTTPServer.serve(fd)
                return nil
            }, UnsafeMutableRawPointer(bitPattern: Int(client)))
            pthread_detach(thread)
        }
    }

    /// Reads requests (headers, then Content-Length bytes of body) and answers each.
    private static func serve(_ fd: Int32) {
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var pending: [UInt8] = []
        while true {
            let count = read(fd, &buffer, buffer.count)
            guard count > 0 else { return }
            pending.append(contentsOf: buffer[0..<count])
            while let end = headerEnd(pending) {
                let contentLength = Self.contentLength(pending[..<end])
                guard pending.count >= end + contentLength else { break }
                pending.removeFirst(end + contentLength)
                var written = 0
                while written < response.count {
                    let n = response[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                    guard n > 0 else { return }
                    written += n
                }
            }
        }
    }

    private static func headerEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4) where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index + 4
        }
        return nil
    }

    private static func contentLength(_ header: ArraySlice<UInt8>) -> Int {
        let text = String(decoding: header, as: UTF8.self).lowercased()
        guard let range = text.range(of: "content-length:") else { return 0 }
        let digits = text[range.upperBound...].drop { $0 == " " }.prefix { $0.isNumber }
        return Int(digits) ?? 0
    }
}
