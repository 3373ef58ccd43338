#if canImport(Glibc)
import Glibc
#endif
import ResinIR

/// How a session is made: the batch it runs, the threads it uses, the memory it may take.
public struct SessionOptions: Sendable, Equatable {
    /// The batch size bound to symbolic leading dimensions of the inputs (a batch named `N`, say).
    /// Nil takes it from `inputShapes`, or else 1.
    public var batch: Int?
    /// Threads for the whole process: Resin's own loops (OpenBLAS stays single-threaded inside them).
    /// Defaults to the cores the process may run on (`availableCores`).
    public var threads: Int
    /// Concrete shapes of inputs, which bind any symbolic dimension they fill.
    public var inputShapes: [String: [Int]]
    /// Inputs whose values are fixed for the session's life: they become constants, so shapes that
    /// depend on them (a Reshape target or Pad amounts fed as inputs) resolve, and they fold. They are
    /// no longer session inputs.
    public var fixedInputs: [String: Tensor]
    /// The most bytes the session may allocate: its arena (every tensor and kernel workspace) and the
    /// constants it folds. A model needing more is refused with `RuntimeError.memoryLimitExceeded` before
    /// the arena is allocated. Nil: the machine's physical memory.
    public var memoryLimit: Int?
    /// Whether a batch the threads divide, of a graph whose images never meet, runs as image lanes: each
    /// thread runs whole images on its own part of the arena (`ImageLanes`). Off, every step runs on the
    /// whole batch with the threads sharing it.
    public var imageLanes: Bool = true

    public init(batch: Int? = nil, threads: Int = SessionOptions.availableCores(), inputShapes: [String: [Int]] = [:], fixedInputs: [String: Tensor] = [:],
                memoryLimit: Int? = nil) {
        self.batch = batch
        self.threads = threads
        self.inputShapes = inputShapes
        self.fixedInputs = fixedInputs
        self.memoryLimit = memoryLimit
    }

    /// The cores this process may run on: its affinity mask (`sched_getaffinity`, so `taskset -c 0` or a
    /// container's cpuset gives 1), else the online processors, and at least 1. More threads than that
    /// only time-slice the same cores: a worker descheduled mid-layer stalls the whole layer's barrier.
    public static func availableCores() -> Int {
        #if os(Linux)
        // Glibc's Swift module hides sched_getaffinity (it needs _GNU_SOURCE), so it is looked up by name;
        // the mask covers 1024 CPUs like glibc's cpu_set_t, and a larger machine falls back to sysconf.
        typealias GetAffinity = @convention(c) (pid_t, Int, UnsafeMutableRawPointer?) -> Int32
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sched_getaffinity") {
            var mask: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                       UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            let count = withUnsafeMutableBytes(of: &mask) { bytes -> Int in
                guard unsafeBitCast(symbol, to: GetAffinity.self)(0, bytes.count, bytes.baseAddress) == 0 else { return 0 }
                return bytes.reduce(0) { $0 + $1.nonzeroBitCount }
            }
            if count > 0 { return count }
        }
        #endif
        return max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    }

    /// The limit in force: `memoryLimit`, or the machine's physical memory.
    public var effectiveMemoryLimit: Int { memoryLimit ?? Self.physicalMemoryBytes }

    /// The machine's physical memory in bytes (pages times page size), or Int.max where the system does
    /// not say.
    public static let physicalMemoryBytes: Int = {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, pageSize > 0 else { return Int.max }
        let (bytes, overflow) = pages.multipliedReportingOverflow(by: pageSize)
        return overflow ? Int.max : bytes
    }()
}
