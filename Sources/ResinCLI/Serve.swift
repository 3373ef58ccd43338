import ArgumentParser
import Dispatch
import Resin
import ResinIR
import ResinRuntime
import ResinServe
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `resin serve <model>...`: the Open Inference Protocol over HTTP (Docs/CLI.md, Docs/deploy.md).
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve models over HTTP with the Open Inference Protocol (KServe v2) until SIGTERM or SIGINT.")

    @Argument(help: "The models (.onnx or .resin); each is served under its file name without the extension.")
    var models: [String]

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The TCP port (0: any free port, printed when listening).")
    var port = 8000

    @Option(help: "Runs of one model at once, each with its own session; more requests wait.")
    var maxConcurrency = 1

    @Option(help: "The largest request body in bytes; a longer one is answered 413 without being read further.")
    var maxRequestBytes = 16 << 20

    @Option(help: "Threads of each run (default: the cores the process may run on, divided by --max-concurrency).")
    var threads: Int?

    @Option(help: "Seconds a connection may send nothing, a request's unfinished body included, before it is closed.")
    var idleTimeout: Double = 30

    func validate() throws {
        guard !models.isEmpty else { throw ValidationError("give at least one model") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard maxConcurrency >= 1 else { throw ValidationError("--max-concurrency must be at least 1") }
        guard maxRequestBytes >= 1 else { throw ValidationError("--max-request-bytes must be at least 1") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        guard idleTimeout > 0, idleTimeout <= 86400 else { throw ValidationError("--idle-timeout must be between 0 and 86400 seconds") }
        var seen: [String: String] = [:]
        for path in models {
            let name = SessionModel.name(ofFileAt: path)
            if let other = seen[name] { throw ValidationError("\(other) and \(path) would both be served as '\(name)'") }
            seen[name] = path
        }
    }

    func run() throws {
        let threadsPerRun = threads ?? max(1, SessionOptions.availableCores() / maxConcurrency)
        var served: [any ServableModel] = []
        for path in models {
            served.append(try reportingErrors(about: path) {
                try SessionModel(path: path, sessions: maxConcurrency, threads: threadsPerRun)
            })
        }
        let service = InferenceService(models: served, serverVersion: "1.0")
        let server = InferenceServer(service: service, configuration: ServerConfiguration(
            host: host, port: port, maxRequestBytes: maxRequestBytes, idleTimeoutSeconds: idleTimeout))
        let names = served.map(\.name).joined(separator: ", ")
        let host = self.host
        // The root command is synchronous, so this thread waits while the server runs on Swift concurrency's
        // and SwiftNIO's threads; the server returns once SIGTERM or SIGINT has drained it.
        let finished = DispatchSemaphore(value: 0)
        let failure = Mutex<(any Error)?>(nil)
        Task.detached {
            do {
                try await server.run { port in
                    printNotice("resin serve: listening on http://\(host):\(port) (models: \(names))")
                }
            } catch {
                failure.withLock { $0 = error }
            }
            finished.signal()
        }
        finished.wait()
        if let error = failure.withLock({ $0 }) {
            printError("serve: cannot serve on \(host):\(port): \(error)")
            throw Exit.badInput
        }
        printNotice("resin serve: stopped")
    }
}

/// Writes a line to standard error.
private func printNotice(_ text: String) {
    let line = Array("\(text)\n".utf8)
    line.withUnsafeBytes { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

/// A model served through sessions of today's runtime: at most `sessions` runs at once, each on its own
/// session, later callers waiting for one to be free. A request of N images on a model whose batch is
/// symbolic runs image by image on batch-1 sessions, so a session's memory does not grow with requests.
///
/// Temporary: the curated `Resin` API's pooled model replaces this adapter.
final class SessionModel: ServableModel {
    let name: String
    let platform: String
    let inputs: [ServedTensorInfo]
    let outputs: [ServedTensorInfo]
    /// Whether every input's and output's first dimension is the batch, run one image at a time.
    private let splitsBatch: Bool
    private let sessionInputs: [TensorDescription]
    private let sessionOutputs: [TensorDescription]
    private let pool: SessionPool

    /// The served name: the file name without its extension.
    static func name(ofFileAt path: String) -> String {
        let file = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = file.lastIndex(of: "."), dot != file.startIndex else { return file }
        return String(file[..<dot])
    }

    init(path: String, sessions count: Int, threads: Int) throws {
        let loaded = try ModelLoader.load(path: path, optimize: true)
        let graph = loaded.model.graph
        name = Self.name(ofFileAt: path)
        platform = loaded.format.rawValue
        let declared = graph.runtimeInputs.map(\.type) + graph.outputs.map(\.type)
        splitsBatch = declared.allSatisfy { type in
            guard let first = type?.dimensions?.first else { return false }
            return first.value == nil
        }
        var sessions: [Session] = []
        for _ in 0..<count {
            sessions.append(try Session(model: loaded.model, options: SessionOptions(batch: 1, threads: threads)))
        }
        sessionInputs = sessions[0].inputs
        sessionOutputs = sessions[0].outputs
        let split = splitsBatch
        func info(_ description: TensorDescription) throws -> ServedTensorInfo {
            guard let datatype = ServedDataType(description.dataType) else {
                throw LoadError(path: path, reason: "tensor '\(description.name)' is \(description.dataType), which the Open Inference Protocol cannot carry")
            }
            let shape = split ? [-1] + description.shape.dropFirst() : description.shape
            return ServedTensorInfo(name: description.name, datatype: datatype, shape: shape)
        }
        inputs = try sessionInputs.map(info)
        outputs = try sessionOutputs.map(info)
        pool = SessionPool(sessions)
    }

    func infer(_ tensors: [String: ServedTensor]) async throws -> [String: ServedTensor] {
        let images = splitsBatch ? (tensors[sessionInputs[0].name]?.shape.first ?? 0) : 1
        for description in sessionInputs where splitsBatch && tensors[description.name]?.shape.first != images {
            throw InferenceError.badInput("input '\(description.name)' has a batch of \(tensors[description.name]?.shape.first ?? 0), input '\(sessionInputs[0].name)' of \(images)")
        }
        let session = await pool.acquire()
        defer { pool.release(session) }
        // Off Swift concurrency's few threads: a run blocks its thread for the whole inference.
        let result = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: Result { try self.run(session, tensors, images: images) })
            }
        }
        return try result.get()
    }

    /// Copies each image's inputs into the session's arena, runs, and copies its outputs out.
    private func run(_ session: Session, _ tensors: [String: ServedTensor], images: Int) throws -> [String: ServedTensor] {
        var outputBytes = sessionOutputs.map { [UInt8](repeating: 0, count: $0.byteCount * images) }
        for image in 0..<images {
            for (index, description) in sessionInputs.enumerated() {
                let destination = session.inputBuffer(at: index)
                let source = tensors[description.name]!.bytes
                // The server checked shapes against `inputs`, so each image's bytes are exactly the arena's.
                precondition(source.count == destination.count * images, "input bytes do not fit the session")
                source.withUnsafeBytes { bytes in
                    destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[(image * destination.count)...].prefix(destination.count)))
                }
            }
            do {
                try session.run()
            } catch {
                throw InferenceError.failed("\(error)")
            }
            for index in sessionOutputs.indices {
                let source = session.outputBuffer(at: index)
                outputBytes[index].withUnsafeMutableBytes { bytes in
                    UnsafeMutableRawBufferPointer(rebasing: bytes[(image * source.count)...].prefix(source.count)).copyMemory(from: source)
                }
            }
        }
        var results: [String: ServedTensor] = [:]
        for (index, description) in sessionOutputs.enumerated() {
            let shape = splitsBatch ? [images] + description.shape.dropFirst() : description.shape
            results[description.name] = ServedTensor(datatype: outputs[index].datatype, shape: shape, bytes: outputBytes[index])
        }
        return results
    }
}

/// Sessions lent to one run at a time; callers beyond the pool's size wait, first come first served.
final class SessionPool: Sendable {
    private struct State {
        var free: [Session]
        var waiting: [CheckedContinuation<Session, Never>] = []
    }

    private let state: Mutex<State>

    init(_ sessions: [Session]) { state = Mutex(State(free: sessions)) }

    /// A free session, waiting for one when all are lent.
    func acquire() async -> Session {
        await withCheckedContinuation { continuation in
            let session = state.withLock { state -> Session? in
                if let session = state.free.popLast() { return session }
                state.waiting.append(continuation)
                return nil
            }
            if let session { continuation.resume(returning: session) }
        }
    }

    /// Returns a session, handing it straight to the longest waiting caller if there is one.
    func release(_ session: Session) {
        let next = state.withLock { state -> CheckedContinuation<Session, Never>? in
            if !state.waiting.isEmpty { return state.waiting.removeFirst() }
            state.free.append(session)
            return nil
        }
        next?.resume(returning: session)
    }
}

extension ServedDataType {
    /// The protocol's name for a Resin element type, when it has one.
    init?(_ dataType: DataType) {
        switch dataType {
        case .bool: self = .bool
        case .uint8: self = .uint8
        case .uint16: self = .uint16
        case .uint32: self = .uint32
        case .uint64: self = .uint64
        case .int8: self = .int8
        case .int16: self = .int16
        case .int32: self = .int32
        case .int64: self = .int64
        case .float16: self = .fp16
        case .float: self = .fp32
        case .double: self = .fp64
        default: return nil
        }
    }
}
