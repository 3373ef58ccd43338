import Dispatch
import ResinIR
import ResinRuntime

/// Runs a model: any number of threads and tasks may call one session at once.
///
/// A session is compiled for one batch size and thread count. Each run in flight uses an arena of its own
/// from a pool of at most `maxConcurrentRuns`, made as they are first needed; the weights are not copied
/// per arena (a `.resin` file's weights, packed filters included, stay in the one mapping; an `.onnx`
/// model's weights are shared too, but each arena's compiled steps prepare their own copy of the filters
/// that need a transformed or packed layout). Callers beyond that many wait for a free arena, or are
/// refused with `ResinError.busy` when `Options.waitsForFreeArena` is false. A run returns the outputs of
/// its own inputs or throws; it never sees another run's data.
public final class InferenceSession: Sendable {
    /// How a session is made.
    public struct Options: Sendable, Equatable {
        /// The batch size bound to the inputs' symbolic leading dimension. Nil takes it from `inputShapes`,
        /// or else 1.
        public var batch: Int?
        /// Threads one run uses (its own loops split over them). Defaults to the cores the process may run on.
        public var threads: Int
        /// The most bytes one arena's session may allocate (its arena, folded constants, prepared filters);
        /// a model needing more is refused with `ResinError.memoryLimitExceeded` before anything is
        /// allocated. Each of the `maxConcurrentRuns` arenas is held to it. Nil: physical memory.
        public var memoryLimit: Int?
        /// The most runs in flight at once, each with an arena of its own. Nil: the cores divided by
        /// `threads`, at least 1, so concurrent runs do not time-slice the same cores.
        public var maxConcurrentRuns: Int?
        /// Whether a run that finds every arena busy waits for one (true) or throws `ResinError.busy`.
        public var waitsForFreeArena: Bool
        /// Concrete shapes of inputs, which bind the symbolic dimensions they fill.
        public var inputShapes: [String: [Int]]
        /// Inputs whose values are fixed for the session's life: they become constants (so shapes that
        /// depend on them resolve) and are no longer passed to `run`.
        public var fixedInputs: [String: Tensor]

        /// Options for a session; every argument has the default described on its property.
        public init(
            batch: Int? = nil, threads: Int = InferenceSession.availableCores, memoryLimit: Int? = nil,
            maxConcurrentRuns: Int? = nil, waitsForFreeArena: Bool = true,
            inputShapes: [String: [Int]] = [:], fixedInputs: [String: Tensor] = [:]
        ) {
            self.batch = batch
            self.threads = threads
            self.memoryLimit = memoryLimit
            self.maxConcurrentRuns = maxConcurrentRuns
            self.waitsForFreeArena = waitsForFreeArena
            self.inputShapes = inputShapes
            self.fixedInputs = fixedInputs
        }

        /// The options `resin run` uses for these inputs: their shapes bind symbolic dimensions, the batch is
        /// `batch` or else the first input's leading dimension, and integer, boolean and scalar inputs are
        /// fixed (they are shape arithmetic, indices and parameters more often than data).
        public func fitting(_ inputs: [String: Tensor], of model: Model) -> Options {
            let base = runtimeOptions
            let fitted = InputPolicy.sessionOptions(base, model: model.loaded.model, feeds: inputs.mapValues(\.value), batch: batch)
            var options = self
            options.batch = fitted.batch
            options.inputShapes = fitted.inputShapes
            for name in fitted.fixedInputs.keys { options.fixedInputs[name] = inputs[name] }
            return options
        }

        /// The runtime's options for one arena's session.
        var runtimeOptions: SessionOptions {
            SessionOptions(batch: batch, threads: threads, inputShapes: inputShapes, fixedInputs: fixedInputs.mapValues(\.value),
                           memoryLimit: memoryLimit)
        }
    }

    /// The cores this process may run on (its CPU affinity, so `taskset -c 0` gives 1).
    public static var availableCores: Int { SessionOptions.availableCores() }

    /// The instruction set the kernels use (`avx512`, `avx2` or `portable`). It is chosen once per process
    /// from the processor and the `RESIN_ISA` environment variable (which may lower it), because the kernel
    /// table is shared by every session; it is not a session option.
    public static var instructionSet: String { InstructionSet.active.description }

    /// The model the session runs.
    public let model: Model
    /// The options the session was made with.
    public let options: Options
    /// The most runs in flight at once.
    public let maxConcurrentRuns: Int
    /// The inputs `run` takes, with the concrete shapes this session was compiled for.
    public let inputs: [TensorInfo]
    /// The outputs `run` returns, with their concrete shapes.
    public let outputs: [TensorInfo]

    private let pool: SessionPool
    private let inputDescriptions: [TensorDescription]

    /// Compiles `model` for `options`, making the first arena (so a model that cannot run fails here).
    public init(model: Model, options: Options = Options()) throws(ResinError) {
        if let error = InstructionSet.requestError {
            throw ResinError.invalidConfiguration(reason: error.description)
        }
        guard options.threads >= 1, options.batch.map({ $0 >= 1 }) ?? true, options.maxConcurrentRuns.map({ $0 >= 1 }) ?? true,
              options.memoryLimit.map({ $0 >= 1 }) ?? true else {
            throw ResinError.invalidConfiguration(reason: "threads, batch, maxConcurrentRuns and memoryLimit must be at least 1")
        }
        self.model = model
        self.options = options
        maxConcurrentRuns = options.maxConcurrentRuns ?? max(1, Self.availableCores / options.threads)
        let first: ResinRuntime.Session
        do {
            first = try ResinRuntime.Session(model: model.loaded.model, options: options.runtimeOptions)
        } catch {
            throw ResinError(error, path: model.path)
        }
        pool = SessionPool(capacity: maxConcurrentRuns, first: first)
        inputDescriptions = first.inputs
        inputs = first.inputs.map(Self.info)
        outputs = first.outputs.map(Self.info)
    }

    /// Runs one inference on the calling thread, waiting for a free arena if `options.waitsForFreeArena`
    /// says so. Inputs are keyed by name; an input of another element type is converted when that loses
    /// nothing (int32 to int64, float16 to float32). Returns every output by name.
    public func run(_ inputs: [String: Tensor]) throws(ResinError) -> [String: Tensor] {
        let feeds = try conform(inputs)
        guard let grant = pool.acquire(waiting: options.waitsForFreeArena) else { throw .busy(maxConcurrentRuns: maxConcurrentRuns) }
        return try run(feeds, with: grant)
    }

    /// Runs one inference for a task: waiting for a free arena suspends the task without blocking its
    /// thread, and the computation itself runs on a Dispatch thread, so the cooperative thread pool stays
    /// free for other tasks (a run takes milliseconds to seconds of CPU time, which a cooperative thread
    /// must not be held for). A task cancelled while it waits keeps its place and runs when its turn comes:
    /// a run is short next to a request's life, and leaving the line early would need a cancellation
    /// handler racing the hand-over. Otherwise as `run(_:)`.
    public func run(_ inputs: [String: Tensor]) async throws(ResinError) -> [String: Tensor] {
        let feeds = try conform(inputs)
        guard let grant = await pool.acquire(waiting: options.waitsForFreeArena) else { throw .busy(maxConcurrentRuns: maxConcurrentRuns) }
        let handOver = HandOver<Result<[String: Tensor], ResinError>>()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                handOver.put(Result { () throws(ResinError) in try self.run(feeds, with: grant) })
                continuation.resume()
            }
        }
        return try handOver.take().get()
    }

    /// How many arenas exist, how many are lent, and the most ever lent at once: for tests of the pool's bound.
    package var poolStatistics: (created: Int, lent: Int, peakLent: Int, refused: Int) {
        let statistics = pool.statistics
        return (statistics.created, statistics.lent, statistics.peakLent, statistics.refused)
    }

    /// Holds one arena (waiting for it) while `body` runs, without running the model: for tests of what
    /// other callers see when every arena is lent.
    package func holdingArena<Result>(_ body: () throws -> Result) throws -> Result {
        guard let grant = pool.acquire(waiting: true) else { preconditionFailure("a waiting acquire returned no arena") }
        let session: ResinRuntime.Session
        switch grant {
        case .session(let lent): session = lent
        case .create:
            do {
                session = try ResinRuntime.Session(model: model.loaded.model, options: options.runtimeOptions)
            } catch {
                pool.releaseFailedCreation()
                throw error
            }
        }
        defer { pool.release(session) }
        return try body()
    }

    /// The feeds in the runtime's types and the session's input order. A fixed input may be given again
    /// only with the value it was fixed to: the session would otherwise silently compute with the old one.
    private func conform(_ inputs: [String: Tensor]) throws(ResinError) -> [String: ResinIR.Tensor] {
        for (name, tensor) in inputs where !inputDescriptions.contains(where: { $0.name == name }) {
            guard let fixed = options.fixedInputs[name] else {
                throw .unknownInput(name: name, inputs: inputDescriptions.map(\.name))
            }
            guard tensor == fixed else {
                throw .inputMismatch(name: name, expected: "the value it was fixed to when the session was made",
                                     actual: "another \(tensor.elementType) \(tensor.shape)")
            }
        }
        do {
            return try InputPolicy.conformed(inputs.mapValues(\.value), to: inputDescriptions)
        } catch {
            throw ResinError(error, path: model.path)
        }
    }

    /// Runs on a granted arena (making it first when the grant says so) and returns the arena to the pool.
    private func run(_ feeds: [String: ResinIR.Tensor], with grant: SessionPool.Grant) throws(ResinError) -> [String: Tensor] {
        let session: ResinRuntime.Session
        switch grant {
        case .session(let lent):
            session = lent
        case .create:
            do {
                session = try ResinRuntime.Session(model: model.loaded.model, options: options.runtimeOptions)
            } catch {
                pool.releaseFailedCreation()
                throw ResinError(error, path: model.path)
            }
        }
        defer { pool.release(session) }
        let outputs: [String: ResinIR.Tensor]
        do {
            outputs = try session.run(feeds)
        } catch {
            throw ResinError(error, path: model.path)
        }
        var result: [String: Tensor] = [:]
        for (name, output) in outputs {
            // The runtime copies each output out of the arena once; the public tensor wraps that copy.
            guard let tensor = Tensor(output) else {
                throw .invalidModel(path: model.path, node: nil, operator: nil, reason: "output '\(name)' has element type \(output.dataType), which no public tensor holds")
            }
            result[name] = tensor
        }
        return result
    }

    private static func info(_ description: TensorDescription) -> TensorInfo {
        TensorInfo(name: description.name, elementType: ElementType(description.dataType), shape: description.shape.map { .fixed($0) })
    }
}
