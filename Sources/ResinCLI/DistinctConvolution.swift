import Resin
import ResinIR
import ResinRuntime

/// One convolution shape of a model, for `resin bench-kernels`: where it occurs, its product, and a
/// one-node model that runs it through the same preparation and session as a converted model.
struct DistinctConvolution {
    /// The first node with this shape, as "model node".
    var label: String
    /// Models it occurs in.
    var models: [String]
    /// The node, its inputs renamed to the one-node model's `x`, `w` and `b` (no residual).
    var node: Node
    var weight: Tensor
    var bias: Tensor?
    /// `[N, C, H, W]` and `[N, M, OH, OW]`.
    var inputShape: [Int]
    var outputShape: [Int]
    var group: Int
    var opsets: [OpsetImport]

    var macs: Int { outputShape.reduce(1, *) * weight.shape.dropFirst().reduce(1, *) }
    /// The product each group multiplies per image: filters x (channels x window) x output pixels.
    var productM: Int { weight.shape[0] / group }
    var productK: Int { weight.shape.dropFirst().reduce(1, *) }
    var productN: Int { outputShape.dropFirst(2).reduce(1, *) }

    var shapeText: String {
        let window = weight.shape.dropFirst(2).map(String.init).joined(separator: "x")
        var text = "\(inputShape[1])x\(inputShape.dropFirst(2).map(String.init).joined(separator: "x")) -> \(outputShape[1])x"
            + "\(outputShape.dropFirst(2).map(String.init).joined(separator: "x")) k\(window)"
        if let attributes = convAttributes {
            let stride = attributes.window.strides?.max() ?? 1
            if stride > 1 { text += " s\(stride)" }
            if let dilation = attributes.window.dilations?.max(), dilation > 1 { text += " d\(dilation)" }
        }
        if group > 1 { text += " g\(group)" }
        return text
    }

    private var convAttributes: ConvAttributes? {
        switch node.op {
        case .conv(let attributes): attributes
        case .fusedConv(let fused): fused.conv
        default: nil
        }
    }

    /// Adds the model's convolutions not already in `layers` (same input, filters, attributes and activation).
    static func collect(from model: Model, label: String, batch: Int, into layers: inout [DistinctConvolution]) {
        let graph = model.graph
        var bindings: [String: Int] = [:]
        for input in graph.runtimeInputs {
            for (axis, dimension) in (input.type?.dimensions ?? []).enumerated() {
                if case .symbolic(let name) = dimension { bindings[name] = axis == 0 ? batch : 1 }
            }
        }
        guard let facts = try? graph.inferFacts(bindings: bindings) else { return }
        let constants = graph.initializersByName
        for original in graph.nodes {
            let group: Int
            switch original.op {
            case .conv(let attributes): group = attributes.group
            case .fusedConv(let fused): group = fused.conv.group
            default: continue
            }
            guard original.inputs.count >= 2, let weight = constants[original.inputs[1]], weight.dataType == .float,
                  let input = facts[original.inputs[0]]?.dimensions?.fixedShape, input.count == 4,
                  let output = original.outputs.first.flatMap({ facts[$0]?.dimensions?.fixedShape }) else { continue }
            let bias = original.inputs.count > 2 && !original.inputs[2].isEmpty ? constants[original.inputs[2]] : nil
            var node = original
            node.name = "conv"
            node.inputs = ["x", "w"] + (bias != nil ? ["b"] : [])
            node.outputs = ["y"]
            if let index = layers.firstIndex(where: { $0.node == node && $0.inputShape == input && $0.weight.shape == weight.shape }) {
                if !layers[index].models.contains(label) { layers[index].models.append(label) }
                continue
            }
            layers.append(DistinctConvolution(
                label: "\(label) \(original.displayName)", models: [label], node: node, weight: weight, bias: bias,
                inputShape: input, outputShape: output, group: group, opsets: model.opsetImports))
        }
    }

    /// The one-node model, prepared as `resin convert` prepares a model (packed or Winograd filters).
    func preparedModel() throws -> Model {
        var w = weight
        w.name = "w"
        var initializers = [w]
        if var b = bias {
            b.name = "b"
            initializers.append(b)
        }
        let graph = Graph(nodes: [node], inputs: [ValueInfo(name: "x", type: .tensor(.float, inputShape.map { .fixed($0) }))],
                          outputs: [ValueInfo(name: "y", type: nil)], initializers: initializers)
        return try KernelPreparation.prepare(Model(opsetImports: opsets, graph: graph))
    }

    /// Median milliseconds of a session run (this one convolution) per thread count, and which filters the
    /// preparation gave it ("winograd", "packed", or "plain" for the original layout).
    func measure(threadCounts: [Int], warmup: Int, iterations: Int) throws -> (path: String, milliseconds: [Double]) {
        let model = try preparedModel()
        var path = "plain"
        if let prepared = model.graph.nodes.first?.inputs.dropFirst(4).first {
            path = prepared.hasSuffix(KernelPreparation.winogradSuffix) ? "winograd" : "packed"
        }
        var medians: [Double] = []
        for threads in threadCounts {
            // The layer's own split over the threads, not whole images per thread (image lanes).
            var options = SessionOptions(batch: inputShape[0], threads: threads)
            options.imageLanes = false
            let session = try Session(model: model, options: options)
            var random = SeededGenerator(seed: 7)
            fillRandom(session.inputBuffer(at: 0), type: .float, using: &random)
            for _ in 0..<warmup { try session.run() }
            var times: [Double] = []
            for _ in 0..<iterations {
                let start = monotonicMilliseconds()
                try session.run()
                times.append(monotonicMilliseconds() - start)
            }
            medians.append(percentile(times.sorted(), 0.5))
        }
        return (path, medians)
    }

    /// Median milliseconds of OpenBLAS sgemm on the same products (one per group and image, on random
    /// matrices), single-threaded and split over a pool of each thread count as Resin splits it.
    func measureSGEMM(threadCounts: [Int], iterations: Int) -> [Double] {
        let m = productM, k = productK, n = productN
        var random = SeededGenerator(seed: 11)
        let a = (0..<(m * k)).map { _ in Float.random(in: -1..<1, using: &random) }
        let b = (0..<(k * n)).map { _ in Float.random(in: -1..<1, using: &random) }
        var c = [Float](repeating: 0, count: m * n)
        let products = group * inputShape[0]
        return threadCounts.map { threads in
            let pool = WorkerPool(threads: threads)
            var times: [Double] = []
            for iteration in 0..<(iterations + 1) {
                let start = monotonicMilliseconds()
                a.withUnsafeBufferPointer { a in
                    b.withUnsafeBufferPointer { b in
                        c.withUnsafeMutableBufferPointer { c in
                            for _ in 0..<products {
                                parallelSGEMM(pool: pool, m: m, n: n, k: k, a: a.baseAddress!, lda: k, b: b.baseAddress!, ldb: n,
                                              c: c.baseAddress!, ldc: n)
                            }
                        }
                    }
                }
                if iteration > 0 { times.append(monotonicMilliseconds() - start) }
            }
            return percentile(times.sorted(), 0.5)
        }
    }
}
