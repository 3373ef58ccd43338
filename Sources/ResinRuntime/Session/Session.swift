import COpenBLAS
import ResinIR
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A tensor a session reads or writes: its name, type and concrete shape.
public struct TensorDescription: Equatable, Sendable {
    public var name: String
    public var dataType: DataType
    public var shape: [Int]
    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { dataType.byteCount(elements: elementCount) ?? 0 }
}

/// The memory a session takes, planned before anything is allocated.
public struct SessionMemory: Sendable {
    /// Where every tensor and workspace would live in the arena.
    public var memoryPlan: MemoryPlan
    /// Peak bytes of kernel workspace in any one step (inside the arena).
    public var workspaceBytes: Int
    /// Bytes of the constants compiling folded (already allocated, within the limit).
    public var foldedConstantBytes: Int
    /// At most the bytes of filters the steps transform or pack when they are made (Winograd transforms,
    /// packed filters), for convolutions whose file does not bring them ready.
    public var preparedWeightBytes: Int
    /// The limit the session is held to.
    public var limit: Int
    /// The largest block, described for messages: its tensor's name, shape, type and bytes.
    public var largestBlock: String

    /// What the session allocates: its arena, the constants it folds and the filters it prepares.
    public var requiredBytes: Int {
        let (partial, overflowA) = memoryPlan.arenaBytes.addingReportingOverflow(foldedConstantBytes)
        let (total, overflowB) = partial.addingReportingOverflow(preparedWeightBytes)
        return overflowA || overflowB ? Int.max : total
    }

    /// Whether the session fits under `limit`.
    public var fits: Bool { requiredBytes <= limit }

    /// The error a session that does not fit throws.
    public var limitError: RuntimeError {
        .memoryLimitExceeded(
            bytes: requiredBytes, limit: limit,
            what: "arena \(memoryPlan.arenaBytes) bytes, largest \(largestBlock); folded constants \(foldedConstantBytes) bytes; prepared filters at most \(preparedWeightBytes) bytes")
    }
}

/// A model compiled for one batch size and thread count, run many times.
///
/// Making a session binds the shapes, folds what is constant, plans memory and allocates the one arena
/// every inference uses; running it calls the bound kernels in order and allocates nothing. Inputs are
/// written into the arena and outputs read from it (`inputBuffer`, `outputBuffer`), or copied in and
/// out by `run(_:)`. A session runs one inference at a time: a second thread calling `run` while one is
/// in progress gets `RuntimeError.busy` rather than corrupted results. Make one session per thread.
public final class Session: @unchecked Sendable {
    /// The model's inputs with the shapes this session runs.
    public let inputs: [TensorDescription]
    /// The model's outputs with their shapes.
    public let outputs: [TensorDescription]
    /// Where every tensor and workspace lives in the arena.
    public let memoryPlan: MemoryPlan
    /// Peak bytes of kernel workspace (im2col columns and the like) in any one step.
    public let workspaceBytes: Int
    public let options: SessionOptions

    let steps: [Step]
    let stepNodes: [Node]
    private let arena: UnsafeMutableRawPointer
    private let inputPointers: [UnsafeMutableRawPointer]
    private let outputPointers: [UnsafeRawPointer]
    /// Byte counts of the inputs and outputs, stored: `TensorDescription.byteCount` reduces the shape,
    /// which allocates in debug builds, and callers fetch the buffers around every run.
    private let inputByteCounts: [Int]
    private let outputByteCounts: [Int]
    /// Initializers and folded values the steps point into, kept alive with the session.
    private let constants: [TensorStorage]
    private let running = Atomic<Bool>(false)
    /// The session's threads for its parallel loops.
    private let pool: WorkerPool

    /// Compiles `model` for the options' batch and threads.
    public init(model: Model, options: SessionOptions = SessionOptions()) throws {
        self.options = options
        Session.keepOpenBLASSingleThreaded()
        let pool = WorkerPool(threads: options.threads)
        self.pool = pool
        let (compiler, budget) = try Self.compileAndPlan(model: model, options: options)
        // Refused before the arena exists: a file's shapes decide its size.
        guard budget.fits else { throw budget.limitError }
        let plan = budget.memoryPlan
        memoryPlan = plan
        arena = UnsafeMutableRawPointer.allocate(byteCount: max(plan.arenaBytes, MemoryPlanner.alignment), alignment: MemoryPlanner.alignment)
        // Zeroed once so that nothing ever reads indeterminate bytes, even a padding lane.
        arena.initializeMemory(as: UInt8.self, repeating: 0, count: max(plan.arenaBytes, MemoryPlanner.alignment))
        let base = arena
        var constants: [TensorStorage] = []
        func bind(_ value: CompiledValue) -> BoundValue {
            switch value.location {
            case .constant(let storage):
                constants.append(storage)
                return BoundValue(pointer: NodeEvaluator.address(of: storage), dataType: value.dataType, shape: value.shape, isConstant: true)
            case .block(let block):
                return BoundValue(pointer: base + plan.offsets[block], dataType: value.dataType, shape: value.shape)
            }
        }
        var steps: [Step] = []
        do {
            for pending in compiler.pending {
                let workspace = pending.workspaceBlock.map { base + plan.offsets[$0] }
                steps.append(try StepFactory.make(
                    node: pending.node, inputs: pending.inputs.map { $0.map(bind) }, outputs: pending.outputs.map(bind),
                    workspace: workspace, opset: compiler.opset, pool: pool))
            }
        } catch {
            arena.deallocate()
            throw error
        }
        self.steps = steps
        stepNodes = compiler.pending.map(\.node)
        workspaceBytes = budget.workspaceBytes
        var inputs: [TensorDescription] = []
        var inputPointers: [UnsafeMutableRawPointer] = []
        for name in compiler.inputNames {
            let value = compiler.values[name]!
            inputs.append(TensorDescription(name: name, dataType: value.dataType, shape: value.shape))
            inputPointers.append(bind(value).pointer)
        }
        var outputs: [TensorDescription] = []
        var outputPointers: [UnsafeRawPointer] = []
        for output in compiler.graph.outputs {
            let value = compiler.values[output.name]!
            outputs.append(TensorDescription(name: output.name, dataType: value.dataType, shape: value.shape))
            outputPointers.append(UnsafeRawPointer(bind(value).pointer))
        }
        self.inputs = inputs
        self.outputs = outputs
        self.inputPointers = inputPointers
        self.outputPointers = outputPointers
        inputByteCounts = inputs.map(\.byteCount)
        outputByteCounts = outputs.map(\.byteCount)
        self.constants = constants
    }

    deinit { arena.deallocate() }

    /// The memory a session of `model` would take with `options`, planned without allocating the arena (only
    /// the constants compiling folds, within the limit): what `inspect` reports. Throws for sizes that do
    /// not fit in 64 bits; a plan above the limit is returned with `fits` false.
    public static func planMemory(model: Model, options: SessionOptions = SessionOptions()) throws -> SessionMemory {
        try compileAndPlan(model: model, options: options).memory
    }

    static func compileAndPlan(model: Model, options: SessionOptions) throws -> (compiler: GraphCompiler, memory: SessionMemory) {
        var compiler = GraphCompiler(model: model)
        try compiler.compile(options: options)
        // Every block's size was checked when it was made; their aligned sum bounds every offset and the
        // arena the planner computes, so checking it here keeps the planner's arithmetic in range.
        var noReuse = 0
        var largest = 0
        for (index, block) in compiler.blocks.enumerated() {
            let (aligned, overflowA) = block.size.addingReportingOverflow(MemoryPlanner.alignment)
            let (total, overflowB) = noReuse.addingReportingOverflow(aligned)
            guard !overflowA, !overflowB else {
                throw RuntimeError.memoryLimitExceeded(bytes: Int.max, limit: options.effectiveMemoryLimit,
                                                       what: "tensors totalling more than a 64-bit size can count; " + compiler.describeBlock(index))
            }
            noReuse = total
            if block.size > compiler.blocks[largest].size { largest = index }
        }
        let plan = MemoryPlanner.plan(compiler.blocks)
        var workspace = 0
        for pending in compiler.pending {
            if let block = pending.workspaceBlock { workspace = max(workspace, compiler.blocks[block].size) }
        }
        let memory = SessionMemory(
            memoryPlan: plan, workspaceBytes: workspace, foldedConstantBytes: compiler.foldedBytes,
            preparedWeightBytes: preparedWeightBound(compiler),
            limit: options.effectiveMemoryLimit,
            largestBlock: compiler.blocks.isEmpty ? "no tensors" : compiler.describeBlock(largest))
        return (compiler, memory)
    }

    /// The most bytes of filters the convolution steps may transform or pack and keep: per convolution with
    /// constant filters, the larger of its packed filters and (for 3x3) its 16 Winograd transforms, packed.
    /// Which one a step keeps depends on geometry and the processor; the bound holds for each.
    static func preparedWeightBound(_ compiler: GraphCompiler) -> Int {
        var total = 0
        for pending in compiler.pending {
            switch pending.node.op {
            case .conv, .fusedConv: break
            default: continue
            }
            guard pending.inputs.count > 1, let weight = pending.inputs[1], weight.isConstant, weight.dataType == .float,
                  weight.shape.count == 4 else { continue }
            let filters = weight.shape[0], channels = weight.shape[1]
            guard let inner = elementCount(of: Array(weight.shape.dropFirst())) else { return Int.max }
            // Filters a native file prepared are used in place, except packed Winograd transforms on a
            // processor without the packed kernel, which are unpacked once.
            let brought = pending.inputs.count > 4 && pending.inputs[4] != nil
            var floats = brought ? 0 : PackedFilters.floats(filters: filters, inner: inner)
            if weight.shape[2] == 3, weight.shape[3] == 3 {
                let (winograd, overflow) = PackedFilters.floats(filters: filters, inner: channels).multipliedReportingOverflow(by: 16)
                if overflow { return Int.max }
                floats = max(floats, winograd)
            }
            let (bytes, overflowA) = floats.multipliedReportingOverflow(by: 4)
            let (sum, overflowB) = total.addingReportingOverflow(bytes)
            if overflowA || overflowB { return Int.max }
            total = sum
        }
        return total
    }

    /// OpenBLAS runs single-threaded inside Resin's own pool: its threaded driver allocates on every
    /// call, and two pools would oversubscribe the cores. The session's `threads` setting governs all
    /// parallelism.
    static func keepOpenBLASSingleThreaded() {
        _ = openBLASConfigured
    }

    /// Done once per process. OpenBLAS's pthread build starts a server thread per extra core when it loads,
    /// and each spins in sched_yield for about 0.1 s before sleeping, taking a core from Resin's workers
    /// during a model's first run; they are never used once OpenBLAS is single-threaded, so they are
    /// stopped (`blas_thread_shutdown_`, looked up at run time: the serial and OpenMP builds lack it).
    private static let openBLASConfigured: Void = {
        openblas_set_num_threads(1)
        typealias Shutdown = @convention(c) () -> Int32
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "blas_thread_shutdown_") {
            _ = unsafeBitCast(symbol, to: Shutdown.self)()
        }
    }()

    /// The arena bytes of input `index`: write the input here before `run()`.
    public func inputBuffer(at index: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: inputPointers[index], count: inputByteCounts[index])
    }

    /// The bytes of output `index` after `run()`; valid until the next run.
    public func outputBuffer(at index: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: outputPointers[index], count: outputByteCounts[index])
    }

    /// Runs one inference on the inputs already in the arena. Allocates nothing.
    public func run() throws {
        try claim()
        defer { release() }
        try runSteps()
    }

    /// Takes the session for one caller, or refuses with `busy`: everything that touches the arena (copying
    /// inputs in, running, copying outputs out) happens between `claim` and `release`, because the planner
    /// gives an input's bytes to later tensors once it is read, so a refused caller's copy would overwrite
    /// a running inference.
    private func claim() throws {
        guard running.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            throw RuntimeError.busy
        }
    }

    private func release() {
        running.store(false, ordering: .releasing)
    }

    private func runSteps() throws {
        for index in steps.indices {
            try steps[index].run(node: stepNodes[index])
        }
    }

    /// One step's time in a profiled run.
    public struct StepTiming: Sendable {
        /// The node's name (or its first output's, when unnamed) and operator type.
        public var node: String
        public var opType: String
        public var milliseconds: Double
    }

    /// Runs once like `run()`, timing every step, in execution order.
    public func runProfiled() throws -> [StepTiming] {
        try claim()
        defer { release() }
        var timings: [StepTiming] = []
        timings.reserveCapacity(steps.count)
        for index in steps.indices {
            var start = timespec()
            var end = timespec()
            clock_gettime(CLOCK_MONOTONIC, &start)
            try steps[index].run(node: stepNodes[index])
            clock_gettime(CLOCK_MONOTONIC, &end)
            let milliseconds = Double(end.tv_sec - start.tv_sec) * 1e3 + Double(end.tv_nsec - start.tv_nsec) / 1e6
            timings.append(StepTiming(node: stepNodes[index].displayName, opType: stepNodes[index].opType, milliseconds: milliseconds))
        }
        return timings
    }

    /// Copies named tensors in, runs, and copies the outputs out, all while holding the session: a caller
    /// refused with `busy` has touched nothing.
    public func run(_ feeds: [String: Tensor]) throws -> [String: Tensor] {
        for name in feeds.keys where !inputs.contains(where: { $0.name == name }) {
            throw RuntimeError.unknownInput(name: name, inputs: inputs.map(\.name))
        }
        var ordered: [Tensor] = []
        for input in inputs {
            guard let tensor = feeds[input.name] else { throw RuntimeError.missingInput(name: input.name) }
            guard tensor.shape == input.shape, tensor.dataType == input.dataType else {
                throw RuntimeError.inputMismatch(
                    name: input.name, expected: "\(input.dataType) \(describe(input.shape))",
                    found: "\(tensor.dataType) \(describe(tensor.shape))")
            }
            guard tensor.storage.bytes.count >= input.byteCount else {
                throw RuntimeError.inputMismatch(
                    name: input.name, expected: "\(input.byteCount) bytes for \(input.dataType) \(describe(input.shape))",
                    found: "\(tensor.storage.bytes.count) bytes")
            }
            ordered.append(tensor)
        }
        try claim()
        defer { release() }
        for (index, tensor) in ordered.enumerated() {
            let destination = inputBuffer(at: index)
            if destination.count > 0 { destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: tensor.storage.bytes.prefix(destination.count))) }
        }
        try runSteps()
        var results: [String: Tensor] = [:]
        for (index, output) in outputs.enumerated() {
            let storage = TensorStorage(copying: outputBuffer(at: index))
            results[output.name] = Tensor(name: output.name, dataType: output.dataType, shape: output.shape, storage: storage)
        }
        return results
    }
}
