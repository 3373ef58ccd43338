import Dispatch
import ResinRuntime

/// At most `capacity` runtime sessions, each with its own arena, lent to one caller at a time.
///
/// Sessions are made on demand (the first by the owner, so that a model that cannot run fails when the
/// inference session is made), so a pool that never sees concurrent callers holds one arena. A caller that
/// finds every session lent waits in line, first come first served, or is refused. A returned session
/// goes straight to the longest waiter, so nobody is overtaken by a caller that arrived later.
final class SessionPool: @unchecked Sendable {
    /// What a caller is given: a session, or the right to make one (the pool counts it as made).
    enum Grant: Sendable {
        case session(ResinRuntime.Session)
        case create
    }

    /// A caller waiting for a grant: a blocked thread, or a suspended task (its grant is handed over
    /// through a lock, as `HandOver` explains, then the task resumed).
    private enum Waiter {
        case thread(ThreadWaiter)
        case task(CheckedContinuation<Void, Never>, HandOver<Grant>)
    }

    /// A thread's place in line: the grant is stored under the pool's lock, then the semaphore wakes it.
    private final class ThreadWaiter: @unchecked Sendable {
        let semaphore = DispatchSemaphore(value: 0)
        /// Written once under the pool's lock before the signal, read once after the wait.
        var grant: Grant?
    }

    /// Counts a test can check the pool's bounds with.
    struct Statistics: Sendable, Equatable {
        /// Sessions made so far (never more than the capacity).
        var created = 0
        /// Sessions lent now.
        var lent = 0
        /// The most sessions lent at once.
        var peakLent = 0
        /// Callers refused because every session was lent and they would not wait.
        var refused = 0
    }

    private struct State {
        var idle: [ResinRuntime.Session] = []
        var waiters: [Waiter] = []
        var statistics = Statistics()
    }

    let capacity: Int
    private let lock = Lock()
    /// Guarded by `lock`: that is what makes the class Sendable.
    private var state: State

    /// A pool of at most `capacity` sessions, holding `first` (already made) idle.
    init(capacity: Int, first: ResinRuntime.Session) {
        self.capacity = capacity
        var initial = State()
        initial.idle = [first]
        initial.statistics.created = 1
        state = initial
    }

    var statistics: Statistics { lock.withLock { state.statistics } }

    /// An idle session, the right to make one, or nil when every session is lent (counting the caller as
    /// refused when it will not wait).
    private static func take(_ state: inout State, capacity: Int, refusing: Bool) -> Grant? {
        if let session = state.idle.popLast() {
            lend(&state)
            return .session(session)
        }
        if state.statistics.created < capacity {
            state.statistics.created += 1
            lend(&state)
            return .create
        }
        if refusing { state.statistics.refused += 1 }
        return nil
    }

    private static func lend(_ state: inout State) {
        state.statistics.lent += 1
        state.statistics.peakLent = max(state.statistics.peakLent, state.statistics.lent)
    }

    /// A grant for the calling thread, blocking it until one is free when `wait` is true; nil when every
    /// session is lent and `wait` is false.
    func acquire(waiting wait: Bool) -> Grant? {
        let waiter = ThreadWaiter()
        let immediate: Grant?? = lock.withLock {
            if let grant = Self.take(&state, capacity: capacity, refusing: !wait) { return .some(grant) }
            guard wait else { return .some(nil) }
            state.waiters.append(.thread(waiter))
            return nil
        }
        if let immediate { return immediate }
        waiter.semaphore.wait()
        return lock.withLock { waiter.grant }
    }

    /// A grant for the calling task, suspending it (never blocking its thread) until one is free when
    /// `wait` is true; nil when every session is lent and `wait` is false.
    func acquire(waiting wait: Bool) async -> Grant? {
        if let immediate = lock.withLock({ Self.take(&state, capacity: capacity, refusing: !wait) }) { return immediate }
        guard wait else { return nil }
        let handOver = HandOver<Grant>()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            // The line may have moved since the check above: take what is free now, else queue.
            let grant: Grant? = lock.withLock {
                if let grant = Self.take(&state, capacity: capacity, refusing: false) { return grant }
                state.waiters.append(.task(continuation, handOver))
                return nil
            }
            if let grant {
                handOver.put(grant)
                continuation.resume()
            }
        }
        return handOver.take()
    }

    /// Returns a lent session: to the longest waiter, or to the idle list.
    func release(_ session: ResinRuntime.Session) {
        hand(.session(session))
    }

    /// Gives back the right to make a session after making one failed: the next waiter may try, or the
    /// pool counts one session fewer.
    func releaseFailedCreation() {
        hand(.create)
    }

    private func hand(_ grant: Grant) {
        let waiter: Waiter? = lock.withLock {
            guard !state.waiters.isEmpty else {
                if case .session(let session) = grant { state.idle.append(session) }
                if case .create = grant { state.statistics.created -= 1 }
                state.statistics.lent -= 1
                return nil
            }
            let waiter = state.waiters.removeFirst()
            if case .thread(let thread) = waiter { thread.grant = grant }
            return waiter
        }
        switch waiter {
        case .thread(let thread): thread.semaphore.signal()
        case .task(let continuation, let handOver):
            handOver.put(grant)
            continuation.resume()
        case nil: break
        }
    }
}
