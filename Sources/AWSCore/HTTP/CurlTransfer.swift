internal import CCurlShims

/// One request in flight on the curl loop.
///
/// `@unchecked Sendable`: `continuation` and `cancelRequested` are written under the loop's shared
/// `Mutex`; everything else is touched only on the loop thread once the transfer is submitted. The
/// continuation is resumed exactly once: by `submit` when the transfer never starts, or by the loop
/// thread when it finishes.
final class CurlTransfer: @unchecked Sendable {
    let request: HTTPRequest
    let configuration: CurlTransport.Configuration
    let timeout: Duration

    var continuation: CheckedContinuation<HTTPResponse, any Error>?
    var cancelRequested = false
    var handle: UnsafeMutableRawPointer?

    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var responseHeaders = HTTPHeaders()
    private var responseBody: [UInt8] = []
    private var exceededLimit = false
    /// curl's detailed message for a failed transfer (`CURLOPT_ERRORBUFFER`).
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))

    init(request: HTTPRequest, configuration: CurlTransport.Configuration, timeout: Duration) {
        self.request = request
        self.configuration = configuration
        self.timeout = timeout
    }

    deinit {
        errorBuffer.deallocate()
    }

    func resume(with result: Result<HTTPResponse, any Error>) {
        guard let continuation else { preconditionFailure("a curl transfer finished twice or was never submitted") }
        self.continuation = nil
        continuation.resume(with: result)
    }

    func releaseResources() {
        if let headerList { curl_slist_free_all(headerList) }
        headerList = nil
    }

    /// Sets every option on `handle`; returns an error naming the option that libcurl refused.
    func configure(_ handle: UnsafeMutableRawPointer) -> AWSError? {
        var failed: String?
        func check(_ code: CURLcode, _ name: String) {
            if code != CURLE_OK, failed == nil { failed = name }
        }
        errorBuffer[0] = 0
        check(kcurl_easy_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer), "ERRORBUFFER")
        check(kcurl_easy_setopt_string(handle, CURLOPT_URL, request.url), "URL")
        check(kcurl_easy_setopt_long(handle, CURLOPT_NOSIGNAL, 1), "NOSIGNAL")
        check(kcurl_easy_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1), "TCP_KEEPALIVE")
        check(kcurl_easy_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, configuration.connectTimeout.milliseconds), "CONNECTTIMEOUT_MS")
        check(kcurl_easy_setopt_long(handle, CURLOPT_TIMEOUT_MS, timeout.milliseconds), "TIMEOUT_MS")
        if let idle = configuration.idleTimeout {
            // Below one byte a second for this long: the connection is taken as stalled.
            check(kcurl_easy_setopt_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1), "LOW_SPEED_LIMIT")
            check(kcurl_easy_setopt_long(handle, CURLOPT_LOW_SPEED_TIME, max(1, (idle.milliseconds + 999) / 1000)), "LOW_SPEED_TIME")
        }
        check(kcurl_easy_setopt_off_t(handle, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(configuration.maxResponseBytes)), "MAXFILESIZE_LARGE")
        check(kcurl_easy_setopt_string(handle, CURLOPT_USERAGENT, configuration.userAgent), "USERAGENT")
        check(kcurl_easy_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, configuration.tls.verifyPeer ? 1 : 0), "SSL_VERIFYPEER")
        check(kcurl_easy_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, configuration.tls.verifyPeer ? 2 : 0), "SSL_VERIFYHOST")
        if let bundle = configuration.tls.caBundlePath {
            check(kcurl_easy_setopt_string(handle, CURLOPT_CAINFO, bundle), "CAINFO")
        }
        if configuration.acceptCompressedResponses {
            check(kcurl_easy_setopt_string(handle, CURLOPT_ACCEPT_ENCODING, ""), "ACCEPT_ENCODING")
        }
        if let proxy = configuration.proxy {
            let host = proxy.host.contains(":") ? "[\(proxy.host)]" : proxy.host
            check(kcurl_easy_setopt_string(handle, CURLOPT_PROXY, "http://\(host):\(proxy.port)"), "PROXY")
            if let username = proxy.username {
                check(kcurl_easy_setopt_string(handle, CURLOPT_PROXYUSERNAME, username), "PROXYUSERNAME")
                check(kcurl_easy_setopt_string(handle, CURLOPT_PROXYPASSWORD, proxy.password ?? ""), "PROXYPASSWORD")
            }
            if !proxy.noProxy.isEmpty {
                check(kcurl_easy_setopt_string(handle, CURLOPT_NOPROXY, proxy.noProxy.joined(separator: ",")), "NOPROXY")
            }
        } else {
            // An empty proxy disables the http_proxy / HTTPS_PROXY environment variables.
            check(kcurl_easy_setopt_string(handle, CURLOPT_PROXY, ""), "PROXY")
        }

        switch request.method {
        case .get:
            check(kcurl_easy_setopt_long(handle, CURLOPT_HTTPGET, 1), "HTTPGET")
        case .head:
            check(kcurl_easy_setopt_long(handle, CURLOPT_NOBODY, 1), "NOBODY")
        default:
            if request.method != .post {
                check(kcurl_easy_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method.rawValue), "CUSTOMREQUEST")
            }
            check(kcurl_easy_setopt_long(handle, CURLOPT_POST, 1), "POST")
            check(kcurl_easy_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count)), "POSTFIELDSIZE_LARGE")
            // COPYPOSTFIELDS copies the body, so it need not outlive this call. (An empty array may
            // have no storage: give curl a valid pointer with a size of zero.)
            let body = request.body.isEmpty ? [0] : request.body
            body.withUnsafeBytes { body in
                check(kcurl_easy_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: body.baseAddress)), "COPYPOSTFIELDS")
            }
        }

        var list: UnsafeMutablePointer<curl_slist>?
        func append(_ line: String) { list = curl_slist_append(list, line) }
        for field in request.headers {
            // "Name;" sends a header with an empty value; "Name:" would remove it.
            append(field.value.isEmpty ? "\(field.name);" : "\(field.name): \(field.value)")
        }
        // No "Expect: 100-continue" round trip, no default Accept or form Content-Type.
        if !request.headers.contains("expect") { append("Expect:") }
        if !request.headers.contains("accept") { append("Accept:") }
        if !request.headers.contains("content-type") { append("Content-Type:") }
        headerList = list
        check(kcurl_easy_setopt_slist(handle, CURLOPT_HTTPHEADER, list), "HTTPHEADER")

        let context = Unmanaged.passUnretained(self).toOpaque()
        check(kcurl_easy_setopt_data_callback(handle, CURLOPT_WRITEFUNCTION, { buffer, size, count, context in
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(context!).takeUnretainedValue()
            return transfer.receiveBody(UnsafeRawBufferPointer(start: buffer, count: size * count))
        }), "WRITEFUNCTION")
        check(kcurl_easy_setopt_pointer(handle, CURLOPT_WRITEDATA, context), "WRITEDATA")
        check(kcurl_easy_setopt_data_callback(handle, CURLOPT_HEADERFUNCTION, { buffer, size, count, context in
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(context!).takeUnretainedValue()
            return transfer.receiveHeader(UnsafeRawBufferPointer(start: buffer, count: size * count))
        }), "HEADERFUNCTION")
        check(kcurl_easy_setopt_pointer(handle, CURLOPT_HEADERDATA, context), "HEADERDATA")

        guard let failed else { return nil }
        return AWSError(code: .transportFailure, message: "libcurl refused the option \(failed) for \(request.method) \(request.endpoint)")
    }

    private func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard responseBody.count + bytes.count <= configuration.maxResponseBytes else {
            exceededLimit = true
            return 0  // makes libcurl abort the transfer with a write error
        }
        responseBody.append(contentsOf: bytes)
        return bytes.count
    }

    private func receiveHeader(_ bytes: UnsafeRawBufferPointer) -> Int {
        var end = bytes.count
        while end > 0, bytes[end - 1] == 0x0A || bytes[end - 1] == 0x0D { end -= 1 }
        let line = Substring(decoding: UnsafeRawBufferPointer(rebasing: bytes[..<end]), as: UTF8.self)
        if line.hasPrefix("HTTP/") {
            // A new response starts (after 100 Continue or a proxy's CONNECT answer): forget the last one's headers.
            responseHeaders = HTTPHeaders()
        } else if let colon = line.firstIndex(of: ":") {
            let name = String(line[..<colon])
            let value = line[line.index(after: colon)...].trimmingASCIIWhitespace()
            responseHeaders.add(name: name, value: value)
            if name.caseInsensitiveEquals("content-length"), let length = Int(value), length > 0 {
                responseBody.reserveCapacity(min(length, configuration.maxResponseBytes))
            }
        }
        return bytes.count
    }

    /// The outcome of a finished transfer.
    func result(of code: CURLcode, handle: UnsafeMutableRawPointer) -> Result<HTTPResponse, any Error> {
        if code == CURLE_OK {
            var status = 0
            _ = kcurl_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
            let response = HTTPResponse(status: status, headers: responseHeaders, body: responseBody)
            responseBody = []
            return .success(response)
        }
        let target = "\(request.method) \(request.endpoint)\(configuration.proxy.map { " through \($0.host):\($0.port)" } ?? "")"
        let reason = errorBuffer[0] != 0 ? String(cString: errorBuffer) : String(cString: curl_easy_strerror(code))
        let errorCode: AWSError.Code
        let message: String
        switch code {
        case CURLE_WRITE_ERROR where exceededLimit, CURLE_FILESIZE_EXCEEDED:
            errorCode = .responseTooLarge
            message = "the response to \(target) is larger than the limit of \(configuration.maxResponseBytes) bytes"
        case CURLE_OPERATION_TIMEDOUT:
            errorCode = .timeout
            message = "\(target) timed out (connect timeout \(configuration.connectTimeout), request timeout \(timeout)\(configuration.idleTimeout.map { ", idle timeout \($0)" } ?? "")): \(reason)"
        case _ where proxyRefusedConnect(handle):
            errorCode = .proxyFailed
            message = "the proxy refused to open a tunnel for \(target): \(reason)"
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE:
            errorCode = .tlsVerificationFailed
            message = "the server's TLS certificate could not be verified for \(target): \(reason)"
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_SSL_CONNECT_ERROR:
            errorCode = .connectionFailed
            message = "could not connect for \(target): \(reason)"
        case CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE:
            errorCode = .connectionLost
            message = "the connection broke during \(target): \(reason)"
        default:
            errorCode = .transportFailure
            message = "\(target) failed: \(reason)"
        }
        return .failure(AWSError(code: errorCode, message: message))
    }
}

extension CurlTransfer {
    /// Whether a proxy answered the `CONNECT` of an https request with an error (such as 407).
    fileprivate func proxyRefusedConnect(_ handle: UnsafeMutableRawPointer) -> Bool {
        guard configuration.proxy != nil else { return false }
        var code = 0
        return kcurl_easy_getinfo_long(handle, CURLINFO_HTTP_CONNECTCODE, &code) == CURLE_OK && code >= 300
    }
}

extension Duration {
    /// Whole milliseconds, rounded up, at least 1 (a zero or negative timeout must not become
    /// curl's "no timeout").
    var milliseconds: Int {
        let (seconds, attoseconds) = components
        guard seconds > 0 || attoseconds > 0 else { return 1 }
        let millis = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int(clamping: max(1, millis))
    }
}
