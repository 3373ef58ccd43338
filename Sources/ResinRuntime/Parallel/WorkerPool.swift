import CResinKernels
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Resin's own threads: a fixed pool that runs the parallel loops of one session.
///
/// The pool is the process's one thread-count setting in practice: OpenBLAS is kept single-threaded
/// (`Session.setThreads`), and large GEMMs and im2col are split into tasks here instead, so the two never
/// oversubscribe the cores. Dispatch allocates nothing: a task is a C function over a context the caller
/// owns for the duration of `forEach` (a Swift closure lent to other threads costs a heap context in
/// unoptimised builds), and tasks are claimed from an atomic counter. The caller runs tasks too.
///
/// One caller dispatches at a time: a session's runs are serial, but several threads may share a pool
/// (tests did, and lost tasks: a second caller's `forEach` replaced the first one's job while its workers
/// ran it). A caller that finds the pool dispatching for another, or calls `forEach` from inside a task,
/// runs its tasks on its own thread instead, so every caller gets all its tasks run and none waits.
public final class WorkerPool: @unchecked Sendable {
    /// Threads that run tasks, the caller included.
    public let threads: Int

    /// A pool of just the calling thread, for work done while a session is made.
    public static let serial = WorkerPool(threads: 1)

    private var mutex = pthread_mutex_t()
    /// Held by the caller whose tasks the workers run, from dispatch until every task is done.
    private var dispatching = pthread_mutex_t()
    private var wake = pthread_cond_t()
    private var done = pthread_cond_t()
    private var generation = 0
    private var busyWorkers = 0
    private var stopping = false
    private var job: Task?
    private var jobContext: UnsafeRawPointer?
    private var taskCount = 0
    private let nextTask = Atomic<Int>(0)
    /// Mirrors of `generation` and `busyWorkers` that spinning threads read without the mutex.
    private let publishedGeneration = Atomic<Int>(0)
    private let unfinishedWorkers = Atomic<Int>(0)
    /// How long a thread spin-waits (for the next dispatch, or for the workers to finish one) before it
    /// sleeps on a condition: longer than the gaps between the parallel kernels of one inference, the serial
    /// steps included, so that back-to-back dispatches never pay a wake-up. A sleeping thread costs a futex
    /// wake, and under a hypervisor an idle virtual CPU halts and must be scheduled again: on a 2-core KVM
    /// guest (AMD EPYC Zen 5) the former limit of 40,000 spins (about 10 microseconds there) let threads
    /// sleep inside an inference, and ResNet-50 on 2 threads ran 16.3 to 16.6 ms against 16.95 to 17.7 in
    /// alternating runs; in the host's busy spells it ran about 20 ms where ONNX Runtime (which spins too) ran
    /// 19. Waiting threads run `pause`, which leaves a hardware sibling its issue slots.
    private static let spinNanoseconds = 1_000_000
    private var workers: [pthread_t] = []

    /// Whether the last `probeCoreDistance` found the pool's threads on cores far apart: a cache line's round
    /// trip between them above `apartNanoseconds`. Kernels that have a schedule for each case read it
    /// (`Kernels.winogradConvolution`); only the caller that holds the pool's session writes it, before a run.
    var coresApart = false
    /// `RESIN_CORE_DISTANCE`: `close` or `apart` fixes `coresApart` for measurements; unset, each probe decides.
    var fixedDistance: Bool?
    /// The round trip above which cores count as apart. On this project's 2-core KVM guests (AMD EPYC Zen 4 and
    /// Zen 5) the host places the two virtual cores either close (a round trip of 50 to 110 ns, or about 30 as
    /// hardware threads of one core) or apart (310 to 420 ns), switching every few seconds to minutes
    /// (Docs/PERFORMANCE.md, "Two threads and the distance between the cores").
    static let apartNanoseconds = 200.0
    /// How long a probe task waits for the other one: the other thread may be asleep (it sleeps after a
    /// millisecond without work) or busy, and then the probe keeps the last answer rather than wait.
    static let probeTimeoutSeconds = 50e-6

    public init(threads: Int) {
        self.threads = max(1, threads)
        switch getenv("RESIN_CORE_DISTANCE").map({ String(cString: $0) }) {
        case "close": fixedDistance = false
        case "apart": fixedDistance = true
        default: fixedDistance = nil
        }
        coresApart = fixedDistance ?? false
        pthread_mutex_init(&mutex, nil)
        pthread_mutex_init(&dispatching, nil)
        pthread_cond_init(&wake, nil)
        pthread_cond_init(&done, nil)
        for _ in 1..<self.threads {
            var thread = pthread_t()
            let context = Unmanaged.passRetained(WorkerContext(pool: self)).toOpaque()
            if pthread_create(&thread, nil, { context in
                let box = Unmanaged<WorkerContext>.fromOpaque(context!).takeRetainedValue()
                box.pool?.workerLoop()
                return nil
            }, context) == 0 {
                workers.append(thread)
            } else {
                Unmanaged<WorkerContext>.fromOpaque(context).release()
            }
        }
    }

    deinit {
        pthread_mutex_lock(&mutex)
        stopping = true
        pthread_cond_broadcast(&wake)
        pthread_mutex_unlock(&mutex)
        for thread in workers { pthread_join(thread, nil) }
        pthread_cond_destroy(&wake)
        pthread_cond_destroy(&done)
        pthread_mutex_destroy(&mutex)
        pthread_mutex_destroy(&dispatching)
    }

    /// A unit of parallel work: `task(context, index)`.
    public typealias Task = @convention(c) (UnsafeRawPointer, Int) -> Void

    /// Runs `task(context, index)` for every index in `0..<count`, spread over the pool (or on the calling
    /// thread alone while another caller is dispatching on it); returns when all are done. `context` must
    /// stay valid until then.
    public func forEach(_ count: Int, context: UnsafeRawPointer, _ task: Task) {
        if count <= 0 { return }
        if count == 1 || workers.isEmpty || pthread_mutex_trylock(&dispatching) != 0 {
            for index in 0..<count { task(context, index) }
            return
        }
        defer { pthread_mutex_unlock(&dispatching) }
        pthread_mutex_lock(&mutex)
        job = task
        jobContext = context
        taskCount = count
        nextTask.store(0, ordering: .relaxed)
        busyWorkers = workers.count
        unfinishedWorkers.store(workers.count, ordering: .relaxed)
        generation &+= 1
        publishedGeneration.store(generation, ordering: .releasing)
        pthread_cond_broadcast(&wake)
        pthread_mutex_unlock(&mutex)

        runTasks(task, context: context, count: count)

        Self.spin { unfinishedWorkers.load(ordering: .acquiring) > 0 }
        pthread_mutex_lock(&mutex)
        while busyWorkers > 0 { pthread_cond_wait(&done, &mutex) }
        job = nil
        jobContext = nil
        pthread_mutex_unlock(&mutex)
    }

    /// Measures the round trip of a cache line between two of the pool's threads, from two of its tasks, and
    /// sets `coresApart` from it (unless `RESIN_CORE_DISTANCE` fixes it); keeps the last answer when the other
    /// thread did not take part within `timeout` seconds. Takes a few microseconds (16 round trips) and
    /// allocates nothing. Returns the round trip in nanoseconds, or nil when there was none to measure.
    @discardableResult
    func probeCoreDistance(timeout: Double = WorkerPool.probeTimeoutSeconds) -> Double? {
        if let fixedDistance {
            coresApart = fixedDistance
            return nil
        }
        guard threads > 1 else { return nil }
        var shared = CoreProbe(probe: resin_core_probe(turn: 0, nanoseconds: -1), timeout: timeout)
        withUnsafeMutablePointer(to: &shared) { context in
            forEach(2, context: UnsafeRawPointer(context)) { raw, role in
                let context = UnsafeMutableRawPointer(mutating: raw).assumingMemoryBound(to: CoreProbe.self)
                resin_core_probe_task(&context.pointee.probe, role, context.pointee.timeout)
            }
        }
        let nanoseconds = shared.probe.nanoseconds
        guard nanoseconds > 0 else { return nil }
        coresApart = nanoseconds > Self.apartNanoseconds
        return nanoseconds
    }

    /// How many tasks to split `elements` of streaming work into: one per thread when there is enough
    /// work to repay a dispatch (about 64 KiB of floats each), else one.
    public func taskCount(forElements elements: Int) -> Int {
        threads == 1 || elements < 1 << 15 ? 1 : min(threads, elements >> 14)
    }

    /// Spin-waits while `waiting()` holds, for at most `spinNanoseconds` (the clock is read every 64 pauses).
    @inline(__always) private static func spin(while waiting: () -> Bool) {
        var deadline = 0
        var spins = 0
        while waiting() {
            resin_spin_pause()
            spins &+= 1
            guard spins & 63 == 0 else { continue }
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let nanoseconds = now.tv_sec * 1_000_000_000 + now.tv_nsec
            if deadline == 0 {
                deadline = nanoseconds + spinNanoseconds
            } else if nanoseconds >= deadline {
                return
            }
        }
    }

    private func runTasks(_ task: Task, context: UnsafeRawPointer, count: Int) {
        while true {
            let index = nextTask.wrappingAdd(1, ordering: .relaxed).oldValue
            if index >= count { return }
            task(context, index)
        }
    }

    fileprivate func workerLoop() {
        var seen = 0
        while true {
            Self.spin { publishedGeneration.load(ordering: .acquiring) == seen }
            pthread_mutex_lock(&mutex)
            while generation == seen && !stopping { pthread_cond_wait(&wake, &mutex) }
            if stopping { break }
            seen = generation
            let task = job
            let context = jobContext
            let count = taskCount
            pthread_mutex_unlock(&mutex)
            if let task, let context { runTasks(task, context: context, count: count) }
            pthread_mutex_lock(&mutex)
            busyWorkers -= 1
            unfinishedWorkers.wrappingSubtract(1, ordering: .releasing)
            if busyWorkers == 0 { pthread_cond_signal(&done) }
            pthread_mutex_unlock(&mutex)
        }
        pthread_mutex_unlock(&mutex)
    }
}

/// What the two tasks of a probe share.
private struct CoreProbe {
    var probe: resin_core_probe
    var timeout: Double
}

/// What a worker thread starts with: a weak way back to its pool, so the pool can go away.
private final class WorkerContext {
    unowned(unsafe) let pool: WorkerPool?
    init(pool: WorkerPool) { self.pool = pool }
}
