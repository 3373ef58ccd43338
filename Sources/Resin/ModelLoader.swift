import ResinIR
import ResinONNX
import ResinOptimizer
import ResinFormat
import ResinRuntime

#if canImport(Glibc)
import Glibc
#endif

/// The file formats Resin reads.
package enum ModelFormat: String, Sendable {
    case onnx
    case resin
}

/// A model read from a file, with where it came from and how long reading took.
package struct LoadedModel: Sendable {
    package var model: ResinIR.Model
    package var format: ModelFormat
    package var path: String
    /// Time from opening the file to a verified (and, when asked, optimized) IR, in milliseconds.
    package var loadMilliseconds: Double
    /// What the optimizer did, when the model was optimized as it loaded.
    package var optimization: OptimizationReport?
    /// Where a native file keeps its sections, for `.resin` files.
    package var nativeLayout: NativeFileLayout?
}

/// Why a model file could not be loaded, for formats not handled by a more specific error.
package struct LoadError: Error, CustomStringConvertible {
    package var path: String
    package var reason: String
    package init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
    package var description: String { "\(path): \(reason)" }
}

/// Opens model files, recognising the format from the content rather than the extension.
package enum ModelLoader {
    /// The first bytes of a native `.resin` file.
    package static let nativeMagic: [UInt8] = Array("RESIN\u{0}".utf8)

    /// The format of the file at `path`, from its first bytes.
    package static func format(ofFileAt path: String) throws -> ModelFormat {
        // Reading nothing still opens the file, so a missing or unreadable file fails here with its reason.
        _ = try readFile(atPath: path, offset: 0, length: 0)
        let prefix = (try? readFile(atPath: path, offset: 0, length: nativeMagic.count)) ?? []
        return prefix == nativeMagic ? .resin : .onnx
    }

    /// Loads a model file in either format; `optimize` runs the optimizer on an ONNX model as it loads,
    /// and `log` receives the optimizer's per-pass lines.
    /// A `.resin` file holds its graph as converted and is not optimized again; `verifyWeights` checks
    /// every weight blob's CRC-32 too.
    package static func load(
        path: String, optimize: Bool = false, verifyWeights: Bool = false, log: ((String) -> Void)? = nil
    ) throws -> LoadedModel {
        let start = monotonicMilliseconds()
        switch try format(ofFileAt: path) {
        case .onnx:
            var model = try ONNXImporter.importModel(atPath: path)
            // Shapes must fit the operators before anything uses the model.
            do {
                _ = try model.graph.inferFacts()
            } catch {
                throw LoadError(path: path, reason: "\(error)")
            }
            var report: OptimizationReport?
            if optimize {
                do {
                    (model, report) = try Optimizer.standard.optimize(model, evaluate: evaluateNode, log: log)
                } catch {
                    throw LoadError(path: path, reason: "\(error)")
                }
                model = ONNXImporter.detachingDecodedStorage(model)
            }
            return LoadedModel(model: model, format: .onnx, path: path,
                               loadMilliseconds: monotonicMilliseconds() - start, optimization: report)
        case .resin:
            let (model, layout) = try NativeReader.read(path: path, verifyWeights: verifyWeights)
            return LoadedModel(model: model, format: .resin, path: path, loadMilliseconds: monotonicMilliseconds() - start,
                               optimization: nil, nativeLayout: layout)
        }
    }
}

/// Constant folding's evaluator: the runtime's own kernels.
package let evaluateNode: NodeEvaluation = { node, inputs, opset in
    try NodeEvaluator.evaluate(node, inputs: inputs, opset: opset)
}

/// A monotonic clock reading in milliseconds.
package func monotonicMilliseconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) * 1e3 + Double(time.tv_nsec) / 1e6
}
