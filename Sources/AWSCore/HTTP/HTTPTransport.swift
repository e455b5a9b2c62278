/// The seam between the AWS clients and the network: sends one request, returns the whole response.
///
/// ``CurlTransport`` is the production implementation. Test doubles (such as `KinesisTestKit`)
/// conform to it to answer requests in-process, so that the clients' encoding, signing and decoding
/// run unchanged.
///
/// - Important: Implementations are safe to call from many tasks at once. Cancelling the calling
///   task aborts the request promptly and throws `CancellationError`.
public protocol HTTPTransport: Sendable {
    /// Sends `request` and returns the response, whatever its status.
    ///
    /// - Parameter timeout: The limit for the whole request, overriding the transport's default.
    /// - Throws: ``AWSError`` with a transport code (``AWSError/Code/connectionFailed``,
    ///   ``AWSError/Code/timeout``, ...) when no response was received; `CancellationError`.
    func execute(_ request: HTTPRequest, timeout: Duration?) async throws -> HTTPResponse
}

extension HTTPTransport {
    /// Sends `request` with the transport's default timeout.
    public func execute(_ request: HTTPRequest) async throws -> HTTPResponse {
        try await execute(request, timeout: nil)
    }
}
