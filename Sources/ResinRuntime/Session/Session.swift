import COpenBLAS
import CResinKernels
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
///
/// A batch its threads divide, of a graph whose images never meet, runs as image lanes (`ImageLanes`): each
/// thread runs whole images through its own steps and part of the arena, one image at a time; otherwise
/// every step runs on the whole batch with the threads sharing it.
public final class Session: @unchecked Sendable {
    /// The model's inputs with the shapes this session runs.
    public let inputs: [TensorDescription]
    /// The model's outputs with their shapes.
    public let outputs: [TensorDescription]
    /// Where every tensor and workspace lives in the arena. With image lanes (`imageLanes`), the offsets are
    /// within each lane's part and the sizes are the whole arena's: the batch's inputs and outputs, the lanes'
    /// parts, then the batch tail's region (`ImageLanes.memory`).
    public let memoryPlan: MemoryPlan
    /// Lanes the batch runs on, one per thread, each running whole images; 0 when every step runs on the
    /// whole batch.
    public let imageLanes: Int
    /// Peak bytes of kernel workspace (im2col columns and the like) in any one step.
    public let workspaceBytes: Int
    public let options: SessionOptions

    /// The steps over one part of the arena (the whole batch, or one lane) and where its inputs and outputs
    /// are.
    struct Program {
        var steps: [Step]
        var inputs: [UnsafeMutableRawPointer]
        var outputs: [UnsafeRawPointer]
    }

    /// One program, or one per image lane.
    let programs: [Program]
    /// With lanes, the steps that run once on the whole batch after them, or nil.
    let batchTail: BatchTail?
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
    /// The moves onto huge pages of the mapped native files the constants are read from, started after the
    /// first run (`HugePageMove`), then emptied. Touched only by the caller holding the session.
    private var hugePageMoves: [HugePageMove]
    /// The session's threads for its parallel loops, or for its lanes.
    let pool: WorkerPool
    /// Images in the batch the lanes share (0 without lanes); stored, since reading it through `inputs`
    /// allocates in debug builds.
    private let laneBatch: Int
    /// Where each lane keeps the error its run threw (lanes only), read after the lanes finish.
    private let laneFailures: UnsafeMutablePointer<Error?>
    /// Whether a step has a schedule for cores far apart (`ConvolutionGeometry.winogradInputCopies`): each run
    /// then first measures how far apart the pool's threads are (`WorkerPool.probeCoreDistance`).
    private let probesCores: Bool

    /// Compiles `model` for the options' batch and threads.
    public init(model: Model, options: SessionOptions = SessionOptions()) throws {
        self.options = options
        Session.keepOpenBLASSingleThreaded()
        let pool = WorkerPool(threads: options.threads)
        self.pool = pool
        let (compiler, budget) = try Self.compileAndPlan(model: model, options: options)
        var inputs: [TensorDescription] = []
        var outputs: [TensorDescription] = []
        for name in compiler.inputNames {
            let value = compiler.values[name]!
            inputs.append(TensorDescription(name: name, dataType: value.dataType, shape: value.shape))
        }
        for output in compiler.graph.outputs {
            let value = compiler.values[output.name]!
            outputs.append(TensorDescription(name: output.name, dataType: value.dataType, shape: value.shape))
        }
        self.inputs = inputs
        self.outputs = outputs
        inputByteCounts = inputs.map(\.byteCount)
        outputByteCounts = outputs.map(\.byteCount)

        // With lanes, the arena holds the batch's inputs and outputs, each lane's part, then the batch tail's region.
        let ioBytes = (inputByteCounts + outputByteCounts).reduce(0) { $0 + MemoryPlanner.aligned($1) }
        let planned = ImageLanes.plan(model: model, options: options, batch: compiler)
        let lanesMemory = planned?.memory(ioBytes: ioBytes)
        let lanes = lanesMemory?.fits == true ? planned : nil
        // Refused before the arena exists: a file's shapes decide its size. Lanes need less than the batch.
        guard lanes != nil || budget.fits else { throw (lanesMemory ?? budget).limitError }
        let active = lanes?.image ?? compiler
        let plan = lanes == nil ? budget.memoryPlan : lanesMemory!.memoryPlan
        memoryPlan = plan
        imageLanes = lanes?.count ?? 0
        laneBatch = lanes?.batch ?? 0
        workspaceBytes = lanes?.laneMemory.workspaceBytes ?? budget.workspaceBytes
        let usesLanes = lanes != nil
        let laneBytes = lanes?.laneBytes ?? 0
        let allocated = max(plan.arenaBytes, MemoryPlanner.alignment)
        arena = UnsafeMutableRawPointer.allocate(byteCount: allocated, alignment: MemoryPlanner.alignment)
        // Zeroed once so that nothing ever reads indeterminate bytes, even a padding lane.
        arena.initializeMemory(as: UInt8.self, repeating: 0, count: allocated)
        laneFailures = UnsafeMutablePointer<Error?>.allocate(capacity: max(1, imageLanes))
        laneFailures.initialize(repeating: nil, count: max(1, imageLanes))

        var constants: [TensorStorage] = []
        let filters = PreparedFilterCache()
        var programs: [Program] = []
        let laneSteps = lanes?.tailStart ?? active.pending.count
        var batchTail: BatchTail?
        do {
            for lane in 0..<max(1, imageLanes) {
                let base = arena + (usesLanes ? ioBytes + lane * laneBytes : 0)
                func bind(_ value: CompiledValue) -> BoundValue {
                    switch value.location {
                    case .constant(let storage):
                        if lane == 0 { constants.append(storage) }
                        return BoundValue(pointer: NodeEvaluator.address(of: storage), dataType: value.dataType, shape: value.shape, isConstant: true)
                    case .block(let block):
                        return BoundValue(pointer: base + plan.offsets[block], dataType: value.dataType, shape: value.shape)
                    }
                }
                var steps: [Step] = []
                for pending in active.pending[..<laneSteps] {
                    let workspace = pending.workspaceBlock.map { base + plan.offsets[$0] }
                    steps.append(try StepFactory.make(
                        node: pending.node, inputs: pending.inputs.map { $0.map(bind) }, outputs: pending.outputs.map(bind),
                        workspace: workspace, opset: active.opset, pool: usesLanes ? .serial : pool, filters: filters))
                }
                programs.append(Program(steps: steps, inputs: active.inputNames.map { bind(active.values[$0]!).pointer },
                                        outputs: active.graph.outputs.map { UnsafeRawPointer(bind(active.values[$0.name]!).pointer) }))
            }
            if let lanes, lanes.tailStart < compiler.pending.count {
                // The tail's region ends the arena.
                let start = arena
                batchTail = try BatchTail(
                    batch: compiler, lanes: lanes, region: start + plan.arenaBytes - lanes.tailBytes,
                    laneBase: { start + ioBytes + $0 * laneBytes }, laneOffsets: plan.offsets, pool: pool, constants: &constants)
            }
        } catch {
            laneFailures.deinitialize(count: max(1, imageLanes))
            laneFailures.deallocate()
            arena.deallocate()
            throw error
        }
        self.programs = programs
        self.batchTail = batchTail
        probesCores = (programs.flatMap(\.steps) + (batchTail?.steps ?? [])).contains {
            if case .convolution(let step) = $0 { return step.geometry.winogradInputCopies > 1 && step.pool.threads > 1 }
            return false
        }
        stepNodes = active.pending.map(\.node)
        if usesLanes {
            // The batch's inputs, then its outputs, at the start of the arena.
            var offset = 0
            var inputPointers: [UnsafeMutableRawPointer] = []
            var outputPointers: [UnsafeRawPointer] = []
            for count in inputByteCounts {
                inputPointers.append(arena + offset)
                offset += MemoryPlanner.aligned(count)
            }
            for count in outputByteCounts {
                outputPointers.append(UnsafeRawPointer(arena + offset))
                offset += MemoryPlanner.aligned(count)
            }
            self.inputPointers = inputPointers
            self.outputPointers = outputPointers
        } else {
            inputPointers = programs[0].inputs
            outputPointers = programs[0].outputs
        }
        self.constants = constants
        hugePageMoves = HugePageMove.moves(for: constants)
    }

    deinit {
        laneFailures.deinitialize(count: max(1, imageLanes))
        laneFailures.deallocate()
        arena.deallocate()
    }

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
    /// during a model's first run (ResNet-50 on two threads: about 110 ms instead of 26 in half the runs);
    /// they are never used once OpenBLAS is single-threaded, so they are stopped (`blas_thread_shutdown_`,
    /// the routine OpenBLAS itself runs at exit; looked up at run time: the serial and OpenMP builds lack
    /// it). Under ThreadSanitizer that join once hung inside OpenBLAS, so `tools/sanitize thread` runs with
    /// `OPENBLAS_NUM_THREADS=1`, which starts no server thread.
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
        if !hugePageMoves.isEmpty {
            for move in hugePageMoves { move.start() }
            hugePageMoves = []
        }
        running.store(false, ordering: .releasing)
    }

    private func runSteps() throws {
        if probesCores { pool.probeCoreDistance() }
        if imageLanes > 0 { return try runLanes() }
        let steps = programs[0].steps
        for index in steps.indices {
            try steps[index].run(node: stepNodes[index])
        }
    }

    /// Every lane on its own thread, each running its images one by one; the first error a lane threw, after
    /// all have stopped.
    private func runLanes() throws {
        var me = Unmanaged.passUnretained(self)
        withUnsafePointer(to: &me) { context in
            pool.forEach(imageLanes, context: context) { raw, lane in
                let session = raw.load(as: Unmanaged<Session>.self).takeUnretainedValue()
                var image = lane
                while image < session.laneBatch {
                    do {
                        try session.runImage(image, lane: lane, timings: nil)
                    } catch {
                        session.laneFailures[lane] = error
                        return
                    }
                    image += session.imageLanes
                }
            }
        }
        for lane in 0..<imageLanes {
            if let failure = laneFailures[lane] {
                for other in 0..<imageLanes { laneFailures[other] = nil }
                throw failure
            }
        }
        try runTail(timings: nil)
    }

    /// The batch tail, if any, on the whole batch, then its outputs into the batch's output buffers; with
    /// `timings`, each step's milliseconds added at its index.
    private func runTail(timings: UnsafeMutablePointer<Double>?) throws {
        guard let batchTail else { return }
        for offset in batchTail.steps.indices {
            let index = batchTail.start + offset
            let start = timings == nil ? 0 : Self.milliseconds()
            try batchTail.steps[offset].run(node: stepNodes[index])
            if let timings { timings[index] += Self.milliseconds() - start }
        }
        for index in batchTail.outputs.indices {
            guard let source = batchTail.outputs[index] else { continue }
            UnsafeMutableRawPointer(mutating: outputPointers[index]).copyMemory(from: source, byteCount: outputByteCounts[index])
        }
    }

    /// One image through lane `lane`'s steps: its slice of every input copied in, its outputs copied out;
    /// with `timings`, each step's milliseconds added to it.
    private func runImage(_ image: Int, lane: Int, timings: UnsafeMutablePointer<Double>?) throws {
        let program = programs[lane]
        let batch = laneBatch
        for index in program.inputs.indices {
            let bytes = inputByteCounts[index] / batch
            program.inputs[index].copyMemory(from: inputPointers[index] + image * bytes, byteCount: bytes)
        }
        for index in program.steps.indices {
            if let timings {
                let start = Self.milliseconds()
                try program.steps[index].run(node: stepNodes[index])
                timings[index] += Self.milliseconds() - start
            } else {
                try program.steps[index].run(node: stepNodes[index])
            }
        }
        let crossings = batchTail?.crossings ?? []
        for index in crossings.indices {
            let bytes = crossings[index].bytes
            (crossings[index].tail + image * bytes).copyMemory(from: crossings[index].lanes[lane], byteCount: bytes)
        }
        for index in program.outputs.indices {
            if batchTail?.outputs[index] != nil { continue }
            let bytes = outputByteCounts[index] / batch
            UnsafeMutableRawPointer(mutating: outputPointers[index] + image * bytes).copyMemory(from: program.outputs[index], byteCount: bytes)
        }
    }

    /// The monotonic clock in milliseconds.
    private static func milliseconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) * 1e3 + Double(now.tv_nsec) / 1e6
    }

    /// One step's time in a profiled run.
    public struct StepTiming: Sendable {
        /// The node's name (or its first output's, when unnamed) and operator type.
        public var node: String
        public var opType: String
        public var milliseconds: Double
    }

    /// Runs once like `run()`, timing every step, in execution order. Image lanes run one after another for
    /// it, and each step's time is its sum over the batch divided by the lanes: what it adds to a run whose
    /// lanes run side by side.
    public func runProfiled() throws -> [StepTiming] {
        try claim()
        defer { release() }
        var milliseconds = [Double](repeating: 0, count: stepNodes.count)
        if probesCores { pool.probeCoreDistance() }
        try milliseconds.withUnsafeMutableBufferPointer { timings in
            if imageLanes > 0 {
                for image in 0..<laneBatch { try runImage(image, lane: image % imageLanes, timings: timings.baseAddress!) }
                for index in timings.indices { timings[index] /= Double(imageLanes) }
                try runTail(timings: timings.baseAddress!)
                return
            }
            for index in programs[0].steps.indices {
                let start = Self.milliseconds()
                try programs[0].steps[index].run(node: stepNodes[index])
                timings[index] = Self.milliseconds() - start
            }
        }
        return stepNodes.indices.map {
            StepTiming(node: stepNodes[$0].displayName, opType: stepNodes[$0].opType, milliseconds: milliseconds[$0])
        }
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
