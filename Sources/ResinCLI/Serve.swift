import ArgumentParser
import Dispatch
import Resin
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
        // Request bodies and tensors are hundreds of KiB each, made and freed on many threads. glibc raises
        // its mmap threshold after the first such free, so later ones come from per-thread heaps that keep
        // freed pages: a ResNet-50 server grew 17 MiB over 10,000 requests. A fixed threshold (which also
        // stops the raising) maps every block from 128 KiB up on its own and gives it back when freed.
        _ = glibcMallopt(mmapThresholdOption, 128 << 10)
        let threadsPerRun = threads ?? max(1, InferenceSession.availableCores / maxConcurrency)
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

/// glibc's `mallopt`, and its `M_MMAP_THRESHOLD` option (-3): `<malloc.h>` is not part of the Glibc module.
@_silgen_name("mallopt")
private func glibcMallopt(_ option: Int32, _ value: Int32) -> Int32
private let mmapThresholdOption: Int32 = -3

/// Writes a line to standard error.
private func printNotice(_ text: String) {
    let line = Array("\(text)\n".utf8)
    line.withUnsafeBytes { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

/// A model served through the library's `InferenceSession`: at most `maxConcurrentRuns` runs at once, each
/// on an arena of its own, later requests waiting in line (the session's pool; the async run never holds one
/// of Swift concurrency's threads). A model whose inputs and outputs all lead with a symbolic batch is
/// compiled for batch 1 and a request of N images runs through it in N runs (`runInBatches`), so a session's
/// memory does not grow with requests; any other model takes requests of exactly its shapes.
final class SessionModel: ServableModel {
    let name: String
    let platform: String
    let inputs: [ServedTensorInfo]
    let outputs: [ServedTensorInfo]
    /// Whether every input's and output's first dimension is the batch, which requests choose.
    private let splitsBatch: Bool
    private let session: InferenceSession

    /// The served name: the file name without its extension.
    static func name(ofFileAt path: String) -> String {
        let file = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = file.lastIndex(of: "."), dot != file.startIndex else { return file }
        return String(file[..<dot])
    }

    init(path: String, sessions count: Int, threads: Int) throws {
        let model = try Resin.Model(contentsOf: path)
        name = Self.name(ofFileAt: path)
        platform = model.metadata.format.rawValue
        splitsBatch = (model.inputs + model.outputs).allSatisfy { info in
            guard let first = info.shape?.first else { return false }
            return first.value == nil
        }
        session = try InferenceSession(model: model, options: InferenceSession.Options(
            batch: splitsBatch ? 1 : nil, threads: threads, maxConcurrentRuns: count))
        let split = splitsBatch
        func info(_ tensor: TensorInfo) throws -> ServedTensorInfo {
            guard let elementType = tensor.elementType, let datatype = ServedDataType(elementType),
                  let dimensions = tensor.shape?.map(\.value), !dimensions.contains(nil) else {
                throw LoadError(path: path, reason: "tensor '\(tensor.name)' is \(tensor.elementType.map { "\($0)" } ?? "of unknown type") with shape \(tensor.shape.map { "\($0)" } ?? "unknown"), which the Open Inference Protocol cannot describe")
            }
            let shape = dimensions.map { $0! }
            return ServedTensorInfo(name: tensor.name, datatype: datatype, shape: split ? [-1] + shape.dropFirst() : shape)
        }
        inputs = try session.inputs.map(info)
        outputs = try session.outputs.map(info)
    }

    func infer(_ tensors: [String: ServedTensor]) async throws -> [String: ServedTensor] {
        var feeds: [String: Resin.Tensor] = [:]
        for (name, tensor) in tensors {
            // The server checked names, datatypes, shapes and byte counts against `inputs` already.
            guard let elementType = ElementType(tensor.datatype) else {
                throw InferenceError.badInput("input '\(name)' is \(tensor.datatype.rawValue), which Resin does not run")
            }
            feeds[name] = try tensor.bytes.withUnsafeBytes { bytes in
                try Resin.Tensor(shape: tensor.shape, elementType: elementType, bytes: bytes)
            }
        }
        let results: [String: Resin.Tensor]
        do {
            results = splitsBatch ? try await session.runInBatches(feeds) : try await session.run(feeds)
        } catch {
            switch error {
            case .invalidTensor, .unknownInput, .missingInput, .inputMismatch: throw InferenceError.badInput("\(error)")
            default: throw InferenceError.failed("\(error)")
            }
        }
        var served: [String: ServedTensor] = [:]
        for output in outputs {
            guard let tensor = results[output.name] else { throw InferenceError.failed("the run returned no output '\(output.name)'") }
            served[output.name] = ServedTensor(datatype: output.datatype, shape: tensor.shape,
                                               bytes: tensor.withUnsafeBytes { [UInt8]($0) })
        }
        return served
    }
}

/// The protocol's datatypes and Resin's element types, pair by pair; bfloat16 has no protocol name.
private let datatypePairs: [(served: ServedDataType, element: ElementType)] = [
    (.bool, .bool), (.uint8, .uint8), (.uint16, .uint16), (.uint32, .uint32), (.uint64, .uint64),
    (.int8, .int8), (.int16, .int16), (.int32, .int32), (.int64, .int64),
    (.fp16, .float16), (.fp32, .float32), (.fp64, .float64),
]

extension ServedDataType {
    /// The protocol's name for a Resin element type, when it has one.
    init?(_ elementType: ElementType) {
        guard let pair = datatypePairs.first(where: { $0.element == elementType }) else { return nil }
        self = pair.served
    }
}

extension ElementType {
    /// The Resin element type of a protocol datatype (the table pairs every one the server takes).
    init?(_ datatype: ServedDataType) {
        guard let pair = datatypePairs.first(where: { $0.served == datatype }) else { return nil }
        self = pair.element
    }
}
