import ArgumentParser
import Resin
import ResinIR
import ResinONNX
import ResinFormat
import ResinOptimizer
import ResinRuntime
import ResinImage

/// `resin convert <input> <output>`: ONNX to ONNX (a faithful round trip), later to and from `.resin`.
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a model between ONNX and Resin's native format.",
        discussion: """
            .onnx to .onnx without --optimize is a faithful round trip: the same nodes, names, attributes, \
            initializer bytes, opsets and metadata. The output is written atomically. --preprocess and --labels \
            store how images become the model's input and the class names (metadata resin.preprocess and \
            resin.labels), which `resin run --image` reads.
            """)

    @Argument(help: "The model to read (.onnx or .resin, recognised by content).")
    var input: String

    @Argument(help: "The file to write (.onnx or .resin, chosen by extension).")
    var output: String

    @Flag(inversion: .prefixedNo, help: "Optimize the graph (default: on for .resin outputs, off for .onnx).")
    var optimize: Bool?

    @Flag(help: "Store weights as IEEE half floats (.resin outputs).")
    var fp16 = false

    @Flag(help: "Deflate weight blobs with zlib (.resin outputs).")
    var compress = false

    @Flag(help: "Print each optimizer pass and its rewrites.")
    var verbose = false

    @OptionGroup(title: "Images") var images: ConvertImageOptions

    func validate() throws {
        if !output.hasSuffix(".resin"), fp16 || compress {
            throw ValidationError("--fp16 and --compress apply to .resin outputs only")
        }
    }

    func run() throws {
        try reportingErrors(about: input) {
            if output.hasSuffix(".resin") {
                // To the native format: optimized unless --no-optimize, weights as the options say.
                let loaded = try ModelLoader.load(path: input, optimize: optimize ?? true, log: verboseLog(verbose))
                // Weights in the kernels' layout (Winograd filters transformed, filters packed); with --fp16
                // those are stored as half floats too and widened once at load like every other weight.
                // --no-optimize keeps the imported graph exactly, so its convolutions stay plain Conv nodes
                // and a session prepares their filters when it is made, as for an ONNX file.
                var model = optimize ?? true ? try KernelPreparation.prepare(loaded.model) : loaded.model
                try images.store(in: &model, path: input)
                try reportingErrors(about: output) {
                    try NativeWriter.write(model, toPath: output, options: NativeWriteOptions(halfPrecision: fp16, compress: compress))
                }
                return
            }
            // ONNX to ONNX is a faithful round trip unless --optimize asks for the optimized graph; a native
            // file's graph is written back as standard operators either way.
            let loaded = try ModelLoader.load(path: input, optimize: optimize == true, log: verboseLog(verbose))
            let lowered = optimize == true || loaded.format == .resin
            var model = lowered ? try StandardONNX.lower(loaded.model) : loaded.model
            try images.store(in: &model, path: input)
            try reportingErrors(about: output) {
                try ONNXExporter.write(model, toPath: output)
            }
        }
    }
}
