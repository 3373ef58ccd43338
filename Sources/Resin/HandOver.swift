/// A value passed from the thread that makes it to the task that awaits it, through a lock.
///
/// A continuation orders the resuming thread before the resumed task, but ThreadSanitizer does not see that
/// ordering on every path through the concurrency runtime: it reported, in 5 runs of 6 on a 2-core machine, a
/// task's read of a run's output racing the Dispatch thread's write of those bytes. Putting the value under a pthread
/// mutex before resuming, and taking it under the same mutex after, orders the two in a way every tool sees.
final class HandOver<Value: Sendable>: @unchecked Sendable {
    private let lock = Lock()
    /// Guarded by `lock`.
    private var value: Value?

    init() {}

    /// Stores the value; call before resuming the task that takes it.
    func put(_ value: Value) {
        lock.withLock { self.value = value }
    }

    /// The value stored; call after the task is resumed.
    func take() -> Value {
        lock.withLock {
            guard let value else { preconditionFailure("a hand-over was taken before anything was put") }
            return value
        }
    }
}
