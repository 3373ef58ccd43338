import ArgumentParser
import Resin
import ResinImage
import ResinIR

#if canImport(Glibc)
import Glibc
#endif

/// The options of `resin run` that score image files instead of running on tensor files.
struct ImageOptions: ParsableArguments {
    @Option(name: .customLong("image"), parsing: .upToNextOption, help: ArgumentHelp(
        "JPEG or PNG files to classify, scored in the order given.", valueName: "FILE"))
    var images: [String] = []

    @Option(name: .customLong("images"), help: ArgumentHelp(
        "A folder (its .jpg, .jpeg and .png files, not its subfolders') or a file listing one image path per line; the paths are sorted.",
        valueName: "DIR|LIST"))
    var sources: [String] = []

    @Option(help: ArgumentHelp("How many classes to report per image (default: 5).", valueName: "K"))
    var top: Int?

    @Option(help: ArgumentHelp("Class names, one per line (line i names class i); default: the names stored in the model.", valueName: "FILE"))
    var labels: String?

    @Option(help: ArgumentHelp("text (default), json (JSON Lines, one object per image) or csv.", valueName: "FORMAT"))
    var format: RecordFormat?

    @Option(help: ArgumentHelp(
        "Score slice I of N (0-based) of the sorted list, or auto: from JOB_COMPLETION_INDEX/JOB_COMPLETIONS or SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT.",
        valueName: "I/N|auto"))
    var shard: String?

    @Flag(help: "With --output: if the output file exists, the shard is done; exit 0 without loading the model.")
    var resume = false

    @Flag(help: "Stop at the first image that cannot be read or decoded (exit 2) instead of recording the error and going on.")
    var failFast = false

    @OptionGroup var recipe: RecipeOptions

    /// Whether the run scores images.
    var isActive: Bool { !images.isEmpty || !sources.isEmpty }

    func validate() throws {
        if let top, top < 1 { throw ValidationError("--top must be at least 1") }
        if !isActive, top != nil || labels != nil || format != nil || shard != nil || resume || failFast {
            throw ValidationError("--top, --labels, --format, --shard, --resume and --fail-fast apply to --image and --images")
        }
        if !isActive, !recipe.isEmpty {
            throw ValidationError("--resize, --crop, --mean, --std, --channel-order and --layout apply to --image and --images")
        }
    }
}

extension RecordFormat: ExpressibleByArgument {}

/// `resin run MODEL --image FILE... | --images DIR|LIST`: decode, preprocess, run in batches, report the top
/// classes per image.
struct ImageRun {
    var model: String
    var options: ImageOptions
    var output: String?
    var runtime: RuntimeOptions

    /// The batch when neither `--batch` nor the model fixes one: enough images per run for the kernels'
    /// batch efficiency, few enough that a batch's tensor (8 x 600 KB at 224 x 224) and the lookahead stay small.
    static let defaultBatch = 8

    /// Exit code when every record was written but some images could not be scored.
    static let someImagesFailed = ExitCode(1)

    func run() throws {
        let shard = try reportingErrors(about: "--shard") { try resolvedShard() }
        let outputPath = output.map { ResultFile.expand($0, shard: shard) }
        if options.resume, let outputPath, pathKind(outputPath) != .missing {
            printNote("\(outputPath) exists: shard \(shard) is done (--resume), nothing to do")
            return
        }
        let all = try reportingErrors(about: options.sources.first ?? "--images") {
            try ImageList.paths(images: options.images, sources: options.sources)
        }
        let paths = Array(all[shard.range(of: all.count)])
        let givenLabels = try options.labels.map { file in try reportingErrors(about: file) { try ClassLabels.read(file: file) } }
        let classifier = try reportingErrors(about: model) { try Classifier(model: model, runtime: runtime, recipeOptions: options.recipe, labels: givenLabels) }

        let destination = try reportingErrors(about: outputPath ?? "standard output") {
            try outputPath.map { path throws(FileError) in try ResultFile(path: path) } ?? ResultFile()
        }
        let format = options.format ?? .text
        var failures = 0
        try reportingErrors(about: outputPath ?? "standard output") {
            try destination.write(format.header)
            let pipeline = ImagePipeline(paths: paths, batch: classifier.batch, recipe: classifier.recipe)
            defer { pipeline.stop() }
            let progress = Progress(total: paths.count, batches: pipeline.batchCount)
            defer { progress.finish() }
            var done = 0
            while let decoded = try pipeline.next() {
                let records = try reportingErrors(about: model) { try classifier.score(decoded, top: options.top ?? 5) }
                for record in records {
                    if let error = record.error {
                        if options.failFast {
                            progress.finish()
                            printError("\(record.image): \(error) (--fail-fast)")
                            throw Exit.badInput
                        }
                        failures += 1
                    }
                    try destination.write(format.render(record))
                }
                if outputPath == nil { try destination.flush() }
                done += decoded.paths.count
                progress.update(done: done)
            }
            try destination.commit()
        }
        if failures > 0 {
            printNote("\(failures) of \(paths.count) images could not be scored (their records hold the errors)")
            throw Self.someImagesFailed
        }
    }

    /// `--shard`, or the whole list.
    private func resolvedShard() throws -> Shard {
        guard let text = options.shard else { return .whole }
        guard text == "auto" else { return try Shard(parsing: text) }
        var environment: [String: String] = [:]
        let (kubernetesIndex, kubernetesCount) = Shard.kubernetesVariables
        let (slurmIndex, slurmCount, slurmMinimum) = Shard.slurmVariables
        for name in [kubernetesIndex, kubernetesCount, slurmIndex, slurmCount, slurmMinimum] {
            if let value = getenv(name) { environment[name] = String(cString: value) }
        }
        return try Shard.automatic(environment: environment)
    }
}

/// A model made ready to classify images: its session, recipe, class names and how to read its output.
struct Classifier {
    /// The images per run.
    let batch: Int
    /// How images become the model's input.
    let recipe: PreprocessingRecipe
    /// Class names by index, when known.
    let labels: [String]?
    private let session: InferenceSession
    private let inputName: String
    private let outputName: String
    private let classes: Int
    /// Whether the output already holds probabilities (the graph ends in Softmax).
    private let outputIsProbability: Bool

    /// Loads `model` and compiles it for a batch of images as the recipe lays them out. `labels` (from
    /// `--labels`) replace the model's stored names.
    init(model path: String, runtime: RuntimeOptions, recipeOptions: RecipeOptions, labels givenLabels: [String]?) throws {
        let loaded = try runtime.load(path)
        let model = try Resin.Model(loaded: loaded)
        let stored = model.metadata.properties
        var storedRecipe: PreprocessingRecipe?
        if let value = stored[PreprocessingRecipe.metadataKey] {
            do {
                storedRecipe = try PreprocessingRecipe(metadataValue: value)
            } catch {
                throw LoadError(path: path, reason: "metadata \(PreprocessingRecipe.metadataKey): \(error.message)")
            }
        }
        recipe = try recipeOptions.recipe(stored: storedRecipe)
        labels = givenLabels ?? stored[ClassLabels.metadataKey].map(ClassLabels.parse(metadataValue:))

        guard model.inputs.count == 1, let input = model.inputs.first else {
            throw LoadError(path: path, reason: "has \(model.inputs.count) inputs (\(model.inputs.map(\.name).joined(separator: ", "))); --image feeds a model with one image input")
        }
        inputName = input.name
        let declared = input.shape ?? []
        let fixedBatch = declared.first?.value
        if let fixedBatch, let requested = runtime.batch, requested != fixedBatch {
            printWarning("\(path): the input's batch is fixed at \(fixedBatch); --batch \(requested) binds only a symbolic batch dimension")
        }
        batch = fixedBatch ?? runtime.batch ?? ImageRun.defaultBatch
        let shape = recipe.inputShape(batch: batch)
        // The model's fixed dimensions must be the recipe's: a 224 x 224 model fed 256 x 256 crops, or an
        // NHWC model fed NCHW, is a wrong recipe, better named here than as a shape error deep in the graph.
        let fits = declared.count == shape.count && zip(declared, shape).allSatisfy { dimension, size in dimension.value.map { $0 == size } ?? true }
        guard fits else {
            throw LoadError(path: path, reason: "input '\(input.name)' has shape [\(declared.map(\.description).joined(separator: ", "))], "
                            + "but the preprocessing recipe makes [\(shape.map(String.init).joined(separator: ", "))] "
                            + "(set --resize, --crop and --layout, or store the model's recipe with resin convert --preprocess)")
        }
        if input.elementType != nil, input.elementType != .float32 {
            throw LoadError(path: path, reason: "input '\(input.name)' is \(input.elementType!), but images are fed as float32")
        }
        let options = InferenceSession.Options(batch: batch, threads: runtime.threads, memoryLimit: runtime.maxMemory,
                                               maxConcurrentRuns: 1, inputShapes: [input.name: shape])
        session = try InferenceSession(model: model, options: options)

        guard let output = session.outputs.first else { throw LoadError(path: path, reason: "has no outputs") }
        outputName = output.name
        let outputShape = (output.shape ?? []).compactMap(\.value)
        guard outputShape.count == 2 || (outputShape.count == 4 && outputShape[2] == 1 && outputShape[3] == 1),
              outputShape.first == batch, outputShape[1] >= 1, output.elementType == .float32 || output.elementType == .float16 else {
            throw LoadError(path: path, reason: "output '\(output.name)' is \(output.elementType.map { "\($0)" } ?? "untyped") "
                            + "[\(outputShape.map(String.init).joined(separator: ", "))]; a classifier's first output is [N, C] or [N, C, 1, 1] floats")
        }
        classes = outputShape[1]
        if let labels, labels.count != classes {
            let origin = givenLabels != nil ? "--labels file has" : "model's stored labels (\(ClassLabels.metadataKey)) have"
            throw LoadError(path: path, reason: "the \(origin) \(labels.count) names, but output '\(output.name)' has \(classes) classes")
        }
        let producer = loaded.model.graph.nodes.last { $0.outputs.contains(output.name) }
        if case .softmax = producer?.op { outputIsProbability = true } else { outputIsProbability = false }
    }

    /// Runs one decoded batch and returns its records in order: top classes for the images that decoded,
    /// the error for those that did not.
    func score(_ decoded: DecodedBatch, top k: Int) throws -> [ImageRecord] {
        var output = try session.run([inputName: decoded.tensor])[outputName]!
        if output.elementType != .float32 { output = try output.converted(to: .float32) }
        return output.withUnsafeBytes { raw in
            let values = raw.bindMemory(to: Float.self)
            return decoded.paths.enumerated().map { row, path in
                if let error = decoded.errors[row] { return ImageRecord(image: path, error: error) }
                let logits = UnsafeBufferPointer(rebasing: values[(row * classes)..<((row + 1) * classes)])
                let scores = outputIsProbability ? Array(logits) : Classification.softmax(logits)
                let entries = Classification.top(min(k, classes), of: scores).map {
                    ImageRecord.Entry(classIndex: $0, label: labels?[$0], score: scores[$0])
                }
                return ImageRecord(image: path, top: entries)
            }
        }
    }
}

/// Writes a note to standard error, keeping standard output for records.
func printNote(_ text: String) {
    let line = Array("note: \(text)\n".utf8)
    line.withUnsafeBytes { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
}
