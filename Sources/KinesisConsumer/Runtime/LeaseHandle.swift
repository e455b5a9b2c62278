import KinesisLeases
import Synchronization

/// One held lease as the worker last wrote it, shared by the coordinator (renewals, release) and
/// the shard's consumer (checkpoints): writes to it go one at a time, each fenced on the counter
/// the previous one left, so a renewal never makes a concurrent checkpoint look stale.
final class LeaseHandle: Sendable {
    private struct State {
        var lease: Lease
        var busy = false
        var waiters: [CheckedContinuation<Void, Never>] = []
        var lastWritten: ContinuousClock.Instant
        var released = false
    }
    private let state: Mutex<State>

    init(_ lease: Lease) {
        state = Mutex(State(lease: lease, lastWritten: .now))
    }

    /// The lease as last written.
    var current: Lease { state.withLock { $0.lease } }
    /// When a write last succeeded.
    var lastWritten: ContinuousClock.Instant { state.withLock { $0.lastWritten } }
    /// Whether the lease was given up (or lost): no more writes.
    var isReleased: Bool { state.withLock { $0.released } }

    /// No more writes through this handle.
    func markReleased() {
        state.withLock { $0.released = true }
    }

    /// Runs `body` on the current lease after every earlier write finished, and stores what it
    /// returns. Throws ``LeaseStoreError/Code/stale`` without calling `body` once released.
    func write(isolation: isolated (any Actor)? = #isolation, _ body: (Lease) async throws -> Lease) async throws -> Lease {
        await acquire()
        defer { relinquish() }
        let (lease, released) = state.withLock { ($0.lease, $0.released) }
        guard !released else { throw LeaseStoreError(code: .stale, leaseKey: lease.leaseKey, message: "the lease is no longer held") }
        let written = try await body(lease)
        state.withLock { state in
            state.lease = written
            state.lastWritten = .now
        }
        return written
    }

    private func acquire(isolation: isolated (any Actor)? = #isolation) async {
        let acquired = state.withLock { state in
            if state.busy { return false }
            state.busy = true
            return true
        }
        guard !acquired else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state in
                if !state.busy {
                    state.busy = true
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    private func relinquish() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.busy = false
                return nil
            }
            return state.waiters.removeFirst()  // stays busy: handed over
        }
        next?.resume()
    }
}
