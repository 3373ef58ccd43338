import ArgumentParser
import Resin
import ResinIR
import ResinRuntime

/// `resin run <model>`: one inference on tensors from files.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a model on input tensors (.npy or .pb) and write or summarise its outputs, or classify images.",
        discussion: """
            With --image or --images, decodes JPEG and PNG files, preprocesses them with the recipe stored in the \
            model (or torchvision's ImageNet recipe), and reports each image's top classes; --output FILE then \
            names the one file the records go to.
            """)

    @Argument(help: "The model (.onnx or .resin).")
    var model: String

    @Option(name: .customLong("input"), help: ArgumentHelp("An input tensor; NAME= binds it by name, else in input order.", valueName: "[NAME=]FILE"))
    var inputs: [String] = []

    @Option(name: .customLong("output"), help: ArgumentHelp("Where to write an output; NAME= picks it, else in output order.", valueName: "[NAME=]FILE"))
    var outputs: [String] = []

    @Option(help: "Write every output as DIR/<name>.npy.")
    var outputDir: String?

    @OptionGroup var runtime: RuntimeOptions

    @OptionGroup(title: "Images") var imageOptions: ImageOptions

    func validate() throws {
        if imageOptions.isActive {
            guard inputs.isEmpty, outputDir == nil else {
                throw ValidationError("--image and --images replace --input; --output-dir does not apply to them")
            }
            guard outputs.count <= 1 else { throw ValidationError("with --image or --images, give at most one --output FILE") }
            if imageOptions.resume, outputs.isEmpty { throw ValidationError("--resume needs --output FILE") }
        } else {
            guard !inputs.isEmpty else { throw ValidationError("give at least one --input [NAME=]FILE, or --image/--images") }
        }
        try runtime.validate()
    }

    func run() throws {
        if imageOptions.isActive {
            return try ImageRun(model: model, options: imageOptions, output: outputs.first, runtime: runtime).run()
        }
        try reportingErrors(about: model) {
            let loaded = try runtime.load(model)
            let inputNames = loaded.model.graph.runtimeInputs.map(\.name)
            let (feeds, files) = try readTensorFiles(inputs, names: inputNames, role: "input")
            try InputPolicy.checkDeclared(feeds, files: files, model: loaded.model, modelPath: model)
            let results: [String: Tensor]
            if let batch = runtime.batch, let first = inputNames.first, let rows = feeds[first]?.shape.first, rows != batch {
                results = try runInBatches(loaded, feeds: feeds, batch: batch, runtime: runtime)
            } else {
                let session = try makeSession(loaded, feeds: feeds, runtime: runtime)
                results = try session.run(try InputPolicy.conformed(feeds, to: session.inputs, files: files))
            }
            let outputNames = loaded.model.graph.outputs.map(\.name)
            var written = false
            if !outputs.isEmpty {
                let targets = outputs.map { TensorArgument(parsing: $0, names: outputNames) }
                var free = outputNames.filter { name in !targets.contains { $0.name == name } }.makeIterator()
                for target in targets {
                    guard let name = target.name ?? free.next(), let tensor = results[name] else {
                        throw BindingError("\(target.path): the model has only \(outputNames.count) outputs")
                    }
                    try reportingErrors(about: target.path) { try TensorFile.write(tensor, to: target.path) }
                }
                written = true
            }
            if let outputDir {
                for name in outputNames {
                    let path = outputDir + "/" + fileName(for: name) + ".npy"
                    try reportingErrors(about: path) { try TensorFile.write(results[name]!, to: path) }
                }
                written = true
            }
            if !written {
                for name in outputNames { print(OutputSummary(name: name, tensor: results[name]!).text) }
            }
        }
    }
}

/// Options every command that runs a model shares.
struct RuntimeOptions: ParsableArguments {
    @Option(name: .customLong("threads"), help: ArgumentHelp(
        "Threads for the whole process (default: the cores it may run on, from its CPU affinity, so `taskset -c 0` gives 1).",
        valueName: "N"))
    var requestedThreads: Int?

    /// `--threads`, or the cores the process may run on.
    var threads: Int { requestedThreads ?? SessionOptions.availableCores() }

    @Option(help: "Batch size bound to a symbolic batch dimension (default: from the inputs, else 1).")
    var batch: Int?

    @Flag(inversion: .prefixedNo, help: "Optimize the graph as it loads (default on).")
    var optimize = true

    @Flag(help: "Print each optimizer pass and how many rewrites it made.")
    var verbose = false

    @Flag(help: "Check every weight blob's CRC-32 of a .resin file (the header, table and graph are always checked).")
    var verifyWeights = false

    @Option(name: .customLong("max-memory"), help: ArgumentHelp(
        "The most bytes a session may allocate (arena, folded constants, filters prepared at load); a model needing more is refused (default: physical memory).",
        valueName: "BYTES"))
    var maxMemory: Int?

    /// Session options for these settings.
    func sessionOptions(batch: Int?) -> SessionOptions {
        SessionOptions(batch: batch, threads: threads, memoryLimit: maxMemory)
    }

    /// Loads the model as these options say.
    func load(_ path: String) throws -> LoadedModel {
        try ModelLoader.load(path: path, optimize: optimize, verifyWeights: verifyWeights, log: verboseLog(verbose))
    }

    func validate() throws {
        if let requestedThreads, requestedThreads < 1 { throw ValidationError("--threads must be at least 1") }
        if let batch, batch < 1 { throw ValidationError("--batch must be at least 1") }
        if let maxMemory, maxMemory < 1 { throw ValidationError("--max-memory must be at least 1 byte") }
    }
}

/// A file-name-safe form of a tensor name.
func fileName(for name: String) -> String {
    String(name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "_" })
}

/// Reads `[NAME=]FILE` arguments and binds them to the model's names.
func readTensors(_ arguments: [String], names: [String], role: String) throws -> [String: Tensor] {
    try readTensorFiles(arguments, names: names, role: role).tensors
}

/// Reads `[NAME=]FILE` arguments, binds them to the model's names, and says which file each came from.
func readTensorFiles(_ arguments: [String], names: [String], role: String) throws -> (tensors: [String: Tensor], files: [String: String]) {
    var entries: [(name: String?, tensor: Tensor, source: String)] = []
    for argument in arguments {
        let parsed = TensorArgument(parsing: argument, names: names)
        let tensor = try reportingErrors(about: parsed.path) { try TensorFile.read(path: parsed.path) }
        // A .pb file names its tensor; use that name when it is one of the model's.
        let name = parsed.name ?? tensor.name.flatMap { names.contains($0) ? $0 : nil }
        entries.append((name, tensor, parsed.path))
    }
    let tensors = try bindTensors(entries, to: names, role: role)
    var files: [String: String] = [:]
    for (name, tensor) in tensors {
        // Binding moves tensors, not bytes: the storage tells which file a bound tensor came from.
        let entry = entries.first { $0.tensor.storage.bytes.baseAddress == tensor.storage.bytes.baseAddress && $0.tensor.shape == tensor.shape }
        files[name] = entry?.source
    }
    return (tensors, files)
}

/// A session for the given inputs, made as the library's input policy says: their shapes bind symbolic
/// dimensions unless --batch does, and integer and scalar inputs are fixed.
func makeSession(_ loaded: LoadedModel, feeds: [String: Tensor], runtime: RuntimeOptions) throws -> Session {
    let options = InputPolicy.sessionOptions(runtime.sessionOptions(batch: nil), model: loaded.model, feeds: feeds, batch: runtime.batch)
    return try Session(model: loaded.model, options: options)
}

/// Inputs whose leading dimension is not `--batch`, through a session of that batch: the library's batching
/// policy (ceil(rows / batch) runs, the last padded, every output's rows joined). Integer and scalar inputs
/// are fixed, as for one run.
func runInBatches(_ loaded: LoadedModel, feeds: [String: Tensor], batch: Int, runtime: RuntimeOptions) throws -> [String: Tensor] {
    let model = try Resin.Model(loaded: loaded)
    var options = InferenceSession.Options(batch: batch, threads: runtime.threads, memoryLimit: runtime.maxMemory, maxConcurrentRuns: 1)
    var batched: [String: Resin.Tensor] = [:]
    for (name, value) in feeds {
        guard let tensor = Resin.Tensor(value) else {
            throw BindingError("input '\(name)': element type \(value.dataType) cannot be fed to a model")
        }
        if InputPolicy.fixesByDefault(value) { options.fixedInputs[name] = tensor } else { batched[name] = tensor }
    }
    return try InferenceSession(model: model, options: options).runInBatches(batched).mapValues(\.value)
}

/// What `run` prints for an output it does not write: shape, and for a classifier the top-5 per image.
struct OutputSummary {
    var name: String
    var tensor: Tensor

    var text: String {
        var lines = ["\(name): \(tensor.dataType) \(describe(tensor.shape))"]
        guard let values = tensor.doubleValues, !values.isEmpty else { return lines[0] }
        if tensor.shape.count == 2, tensor.shape[1] > 1 {
            let classes = tensor.shape[1]
            for image in 0..<tensor.shape[0] {
                let row = values[(image * classes)..<((image + 1) * classes)]
                let top = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.prefix(5)
                let entries = top.map { "\($0 - image * classes) (\(format(row[$0])))" }
                lines.append("  image \(image): top-5 " + entries.joined(separator: ", "))
            }
        } else {
            let finite = values.filter(\.isFinite)
            let mean = finite.isEmpty ? Double.nan : finite.reduce(0, +) / Double(finite.count)
            lines.append("  min \(format(values.min()!)), max \(format(values.max()!)), mean \(format(mean))")
            lines.append("  first values: " + values.prefix(8).map(format).joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }
}

/// A number with up to six significant digits.
func format(_ value: Double) -> String {
    if value.isNaN || value.isInfinite { return "\(value)" }
    if value == value.rounded(), abs(value) < 1e9 { return String(Int(value)) }
    let magnitude = abs(value)
    if magnitude >= 1e-4, magnitude < 1e6 {
        var text = String(value)
        if let dot = text.firstIndex(of: ".") {
            let digits = text.distance(from: dot, to: text.endIndex) - 1
            if digits > 6 { text = String(text.prefix(text.distance(from: text.startIndex, to: dot) + 7)) }
        }
        return text
    }
    return "\(value)"
}
