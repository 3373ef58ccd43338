import ResinFormat
import ResinIR
import ResinONNX
import ResinOptimizer
import ResinRuntime

/// A model loaded from an `.onnx` or `.resin` file: its graph and weights, ready to make sessions from.
///
/// A model is immutable and `Sendable`. A `.resin` file's weights stay in its read-only mapping, and every
/// session made from the model points into that one mapping.
public struct Model: Sendable {
    /// How a model file is loaded.
    public struct LoadOptions: Sendable, Equatable {
        /// Whether an `.onnx` model is optimized as it loads (folding, fusing), as `resin run` does. A
        /// `.resin` file holds its graph as it was converted and is not optimized again.
        public var optimize: Bool
        /// Whether every weight blob's CRC-32 of a `.resin` file is checked too (its header, section table
        /// and graph are always checked).
        public var verifyWeights: Bool

        /// Options that optimize `.onnx` models and check a `.resin` file's graph but not its weights.
        public init(optimize: Bool = true, verifyWeights: Bool = false) {
            self.optimize = optimize
            self.verifyWeights = verifyWeights
        }
    }

    /// The file formats a model is read from and written to.
    public enum Format: String, Sendable, Hashable, CaseIterable {
        /// Standard ONNX (protobuf).
        case onnx
        /// Resin's native format: optimized graph, weights in the kernels' layout, mapped at load.
        case resin
    }

    /// What a model file says about itself.
    public struct Metadata: Sendable, Equatable {
        /// The format the model was read from, recognised from the file's content.
        public var format: Format
        /// The tool that produced the model (`pytorch`), and its version, when the file says.
        public var producer: String?
        /// The version of the producing tool, when the file says.
        public var producerVersion: String?
        /// The version of the default ONNX operator set the model uses.
        public var opsetVersion: Int?
        /// The model's free-form metadata properties (ONNX `metadata_props`), by key.
        public var properties: [String: String]
    }

    /// The model's name: its file name without the extension.
    public let name: String
    /// The path the model was loaded from.
    public let path: String
    /// The inputs a run takes, as declared (weights stored as graph inputs are not among them).
    public let inputs: [TensorInfo]
    /// The outputs a run returns.
    public let outputs: [TensorInfo]
    /// What the file says about the model.
    public let metadata: Metadata
    /// The number of weights (learned parameters), counting each stored weight once.
    public let parameterCount: Int

    /// The model as loaded, for sessions, the command line and the server.
    package let loaded: LoadedModel

    /// Loads the model at `path`, recognising `.onnx` or `.resin` from the file's content.
    public init(contentsOf path: String, options: LoadOptions = LoadOptions()) throws(ResinError) {
        do {
            let loaded = try ModelLoader.load(path: path, optimize: options.optimize, verifyWeights: options.verifyWeights)
            try self.init(loaded: loaded)
        } catch {
            throw ResinError(error, path: path)
        }
    }

    /// The public model of one the loader read.
    package init(loaded: LoadedModel) throws {
        self.loaded = loaded
        path = loaded.path
        let file = loaded.path.split(separator: "/").last.map(String.init) ?? loaded.path
        name = file.lastIndex(of: ".").map { String(file[..<$0]) }.flatMap { $0.isEmpty ? nil : $0 } ?? file
        let model = loaded.model
        inputs = model.graph.runtimeInputs.map(TensorInfo.init)
        outputs = model.graph.outputs.map(TensorInfo.init)
        var properties: [String: String] = [:]
        for pair in model.metadata { properties[pair.key] = pair.value }
        metadata = Metadata(
            format: loaded.format == .resin ? .resin : .onnx, producer: model.producerName, producerVersion: model.producerVersion,
            opsetVersion: model.defaultOpsetVersion, properties: properties)
        parameterCount = try ModelSummary(loaded).parameters
    }

    /// Writes the model to `path` in `format`, atomically (on failure nothing is left at `path`).
    ///
    /// `.resin` output stores the graph as loaded with weights in the kernels' layout, as `resin convert`
    /// does; `.onnx` output writes standard operators that other ONNX tools accept (an optimized graph's
    /// fused operators are written back as Conv, Add and Relu).
    public func write(to path: String, format: Format) throws(ResinError) {
        do {
            switch format {
            case .resin:
                let prepared = try KernelPreparation.prepare(loaded.model)
                try NativeWriter.write(prepared, toPath: path, options: NativeWriteOptions())
            case .onnx:
                let lowered = loaded.format == .resin || loaded.optimization != nil
                try ONNXExporter.write(lowered ? try StandardONNX.lower(loaded.model) : loaded.model, toPath: path)
            }
        } catch {
            let mapped = ResinError(error, path: path)
            if case .unreadableFile(_, let reason) = mapped { throw .writeFailed(path: path, reason: reason) }
            throw mapped
        }
    }
}
