internal import CCurlShims
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// libcurl's global initialisation, done once before the first handle.
private let curlGlobalInit: Void = {
    let code = curl_global_init(Int(CURL_GLOBAL_DEFAULT))
    precondition(code == CURLE_OK, "curl_global_init failed")
}()

/// One curl multi handle and the thread that drives it.
///
/// `@unchecked Sendable`: `active` and `idleHandles`, and `multi` but for `curl_multi_wakeup`, are
/// touched only on the loop thread; everything other threads touch is in `shared`, behind its
/// `Mutex`. `curl_multi_wakeup` is thread-safe, and `multi` is freed only in `deinit`, once no
/// caller can hold the loop any more, so a late wake-up never reaches a freed handle.
final class CurlMultiLoop: @unchecked Sendable {
    struct Shared {
        var pending: [CurlTransfer] = []
        var cancelled: [CurlTransfer] = []
        var isShutDown = false
    }

    private let multi: UnsafeMutableRawPointer
    private let shared = Mutex(Shared())
    private var active: [UnsafeMutableRawPointer: CurlTransfer] = [:]
    private var idleHandles: [UnsafeMutableRawPointer] = []
    let connectionsOpened = Atomic<Int>(0)

    init(maxConnections: Int?) {
        _ = curlGlobalInit
        guard let multi = curl_multi_init() else {
            preconditionFailure("curl_multi_init failed: out of memory")
        }
        self.multi = multi
        if let maxConnections {
            _ = kcurl_multi_setopt_long(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, maxConnections)
        }
        _ = kcurl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, 64)
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { context in
            let loop = Unmanaged<CurlMultiLoop>.fromOpaque(context!).takeRetainedValue()
            loop.run()
            return nil
        }, context)
        precondition(created == 0, "could not start the curl loop thread")
        pthread_detach(thread)
    }

    // MARK: Called from any thread

    func submit(_ transfer: CurlTransfer, continuation: CheckedContinuation<HTTPResponse, any Error>) {
        let accepted: (Bool, (any Error)?) = shared.withLock { state in
            transfer.continuation = continuation
            if transfer.cancelRequested { return (false, CancellationError()) }
            if state.isShutDown { return (false, AWSError(code: .transportShutdown, message: "the HTTP transport was shut down")) }
            state.pending.append(transfer)
            return (true, nil)
        }
        if accepted.0 {
            curl_multi_wakeup(multi)
        } else {
            transfer.resume(with: .failure(accepted.1!))
        }
    }

    func cancel(_ transfer: CurlTransfer) {
        let wake = shared.withLock { state in
            transfer.cancelRequested = true
            guard !state.isShutDown else { return false }
            state.cancelled.append(transfer)
            return true
        }
        if wake { curl_multi_wakeup(multi) }
    }

    func shutdown() {
        let wasShutDown = shared.withLock { state in
            defer { state.isShutDown = true }
            return state.isShutDown
        }
        if !wasShutDown { curl_multi_wakeup(multi) }
    }

    // MARK: The loop thread

    private func run() {
        var running: Int32 = 0
        while true {
            let (pending, cancelled, isShutDown) = shared.withLock { state in
                defer {
                    state.pending.removeAll(keepingCapacity: true)
                    state.cancelled.removeAll(keepingCapacity: true)
                }
                return (state.pending, state.cancelled, state.isShutDown)
            }
            if isShutDown {
                let error = AWSError(code: .transportShutdown, message: "the HTTP transport was shut down")
                for transfer in pending { transfer.resume(with: .failure(error)) }
                for (handle, transfer) in active { finish(handle, transfer, .failure(error)) }
                return
            }
            for transfer in pending { start(transfer) }
            for transfer in cancelled {
                if let handle = transfer.handle, active[handle] === transfer {
                    finish(handle, transfer, .failure(CancellationError()))
                }
            }
            curl_multi_perform(multi, &running)
            var remaining: Int32 = 0
            while let message = curl_multi_info_read(multi, &remaining) {
                guard message.pointee.msg == CURLMSG_DONE, let handle = message.pointee.easy_handle,
                    let transfer = active[handle]
                else { continue }
                let code = kcurl_message_result(message)
                finish(handle, transfer, transfer.result(of: code, handle: handle))
            }
            curl_multi_poll(multi, nil, 0, 1000, nil)
        }
    }

    deinit {
        for handle in idleHandles { curl_easy_cleanup(handle) }
        curl_multi_cleanup(multi)
    }

    private func start(_ transfer: CurlTransfer) {
        let handle: UnsafeMutableRawPointer
        if let idle = idleHandles.popLast() {
            handle = idle  // reset when it was pooled
        } else if let fresh = curl_easy_init() {
            handle = fresh
        } else {
            transfer.resume(with: .failure(AWSError(code: .transportFailure, message: "libcurl could not create a handle (out of memory)")))
            return
        }
        if let error = transfer.configure(handle) {
            recycle(handle, of: transfer)
            transfer.resume(with: .failure(error))
            return
        }
        guard curl_multi_add_handle(multi, handle) == CURLM_OK else {
            recycle(handle, of: transfer)
            transfer.resume(with: .failure(AWSError(code: .transportFailure, message: "libcurl could not start \(transfer.request.method) \(transfer.request.endpoint)")))
            return
        }
        transfer.handle = handle
        active[handle] = transfer
    }

    /// Frees the transfer's curl resources and pools the handle, reset so that it points at nothing
    /// of the finished transfer (callbacks' data, error buffer, header list).
    private func recycle(_ handle: UnsafeMutableRawPointer, of transfer: CurlTransfer) {
        curl_easy_reset(handle)
        transfer.releaseResources()
        transfer.handle = nil
        if idleHandles.count < 32 {
            idleHandles.append(handle)
        } else {
            curl_easy_cleanup(handle)
        }
    }

    private func finish(_ handle: UnsafeMutableRawPointer, _ transfer: CurlTransfer, _ result: Result<HTTPResponse, any Error>) {
        curl_multi_remove_handle(multi, handle)
        active[handle] = nil
        var connects = 0
        if kcurl_easy_getinfo_long(handle, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK, connects > 0 {
            connectionsOpened.add(connects, ordering: .relaxed)
        }
        recycle(handle, of: transfer)
        transfer.resume(with: result)
    }
}
