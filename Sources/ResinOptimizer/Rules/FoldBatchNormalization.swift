import ResinIR

/// The four statistics of an inference BatchNormalization reduced to `y = x * scale[c] + shift[c]`,
/// computed in double precision.
struct BatchNormalizationFactors {
    var scale: [Double]
    var shift: [Double]

    /// Factors from constant inputs: `scale = gamma / sqrt(var + eps)`, `shift = beta - mean * scale`.
    init?(_ node: Node, index: GraphIndex) {
        guard case .batchNormalization(let attributes) = node.op, !attributes.trainingMode, node.outputs.count == 1,
              node.inputs.count == 5, let gamma = index.constant(node.inputs[1]).flatMap(doubles),
              let beta = index.constant(node.inputs[2]).flatMap(doubles),
              let mean = index.constant(node.inputs[3]).flatMap(doubles),
              let variance = index.constant(node.inputs[4]).flatMap(doubles),
              gamma.count == beta.count, gamma.count == mean.count, gamma.count == variance.count else { return nil }
        let epsilon = Double(attributes.epsilon)
        let factors = zip(gamma, variance).map { $0 / ($1 + epsilon).squareRoot() }
        scale = factors
        shift = (0..<gamma.count).map { beta[$0] - mean[$0] * factors[$0] }
    }
}

/// BatchNormalization folded into the Conv (or Gemm) before it: `W' = W * s`, `b' = (b - mean) * s + beta`
/// with `s = gamma / sqrt(var + eps)`, in double precision and rounded once to float.
struct FoldBatchNormalization: CountingPass {
    let name = "fold-batch-normalization"

    func run(on graph: inout Graph, context: OptimizationContext, statistics: inout OptimizerStatistics) throws -> Int {
        var count = 0
        var index = GraphIndex(graph)
        for bnPosition in graph.nodes.indices where !index.removed[bnPosition] {
            statistics.ruleVisits += 1
            guard let (producerPosition, factors) = match(bnPosition, graph: graph, index: index) else { continue }
            let bn = graph.nodes[bnPosition]
            var producer = graph.nodes[producerPosition]
            switch producer.op {
            case .conv:
                let weight = index.constant(producer.inputs[1])!
                let filters = weight.shape[0]
                let perFilter = weight.elementCount / max(filters, 1)
                // Straight from storage to storage: ResNet-50 rescales 25 M weights here.
                let source = weight.storage.bytes
                let storage = TensorStorage(byteCount: weight.elementCount * 4) { out in
                    for filter in 0..<filters {
                        let factor = factors.scale[filter]
                        for offset in 0..<perFilter {
                            let at = (filter * perFilter + offset) * 4
                            let value = Double(source.loadUnaligned(fromByteOffset: at, as: Float.self)) * factor
                            out.storeBytes(of: Float(value), toByteOffset: at, as: Float.self)
                        }
                    }
                }
                let oldBias = producer.inputs.count > 2 ? index.constant(producer.inputs[2]).flatMap(doubles) : nil
                let bias = (0..<filters).map { Float(((oldBias?[$0] ?? 0) * factors.scale[$0]) + factors.shift[$0]) }
                let base = producer.inputs[1]
                let weightName = index.addInitializer(
                    Tensor(name: nil, dataType: .float, shape: weight.shape, storage: storage), base: base + "_bn_folded", to: &graph)
                let biasName = index.addInitializer(.floats(bias, shape: [filters]), base: base + "_bn_folded_bias", to: &graph)
                producer.inputs = [producer.inputs[0], weightName, biasName]
            case .gemm(let attributes):
                let weight = index.constant(producer.inputs[1])!
                let values = weight.floatValues!
                let columns = factors.scale.count
                var folded = values
                // Output column j scales column j of op(B): a row of B when transposed, a column when not.
                for row in 0..<weight.shape[0] {
                    for column in 0..<weight.shape[1] {
                        let feature = attributes.transB ? row : column
                        folded[row * weight.shape[1] + column] = Float(Double(values[row * weight.shape[1] + column]) * factors.scale[feature])
                    }
                }
                let c = producer.inputs.count > 2 ? index.constant(producer.inputs[2]).flatMap(doubles) : nil
                let bias = (0..<columns).map { j -> Float in
                    let old = c.map { $0.count == 1 ? $0[0] : $0[j] } ?? 0
                    return Float(old * Double(attributes.beta) * factors.scale[j] + factors.shift[j])
                }
                let base = producer.inputs[1]
                let weightName = index.addInitializer(.floats(folded, shape: weight.shape), base: base + "_bn_folded", to: &graph)
                let biasName = index.addInitializer(.floats(bias, shape: [columns]), base: base + "_bn_folded_bias", to: &graph)
                producer.inputs = [producer.inputs[0], weightName, biasName]
                var gemm = attributes
                gemm.beta = 1
                producer.op = .gemm(gemm)
                producer.attributes = producer.attributes.filter { $0.name != "beta" }
            default:
                continue
            }
            producer.outputs = bn.outputs
            index.delete(bnPosition, in: &graph)
            index.replace(producerPosition, with: producer, in: &graph)
            count += 1
        }
        index.compact(&graph)
        return count
    }

    /// The producer a BatchNormalization at `position` folds into, and its factors.
    private func match(_ position: Int, graph: Graph, index: GraphIndex) -> (Int, BatchNormalizationFactors)? {
        let node = graph.nodes[position]
        guard case .batchNormalization = node.op, let factors = BatchNormalizationFactors(node, index: index),
              let producerPosition = index.producer[node.inputs[0]],
              index.soleConsumer(of: node.inputs[0]) == position else { return nil }
        let producer = graph.nodes[producerPosition]
        switch producer.op {
        case .conv, .gemm: break
        default: return nil
        }
        guard producer.inputs.count >= 2, let weight = index.constant(producer.inputs[1]), weight.dataType == .float else { return nil }
        if producer.inputs.count > 2, !producer.inputs[2].isEmpty, index.constant(producer.inputs[2]) == nil { return nil }
        switch producer.op {
        case .conv:
            guard weight.shape.first == factors.scale.count else { return nil }
        case .gemm(let attributes):
            let features = attributes.transB ? weight.shape[0] : weight.shape[1]
            guard weight.rank == 2, features == factors.scale.count else { return nil }
            if producer.inputs.count > 2, let c = index.constant(producer.inputs[2]),
               !(c.elementCount == 1 || c.shape == [features] || c.shape == [1, features]) { return nil }
        default:
            return nil
        }
        return (producerPosition, factors)
    }
}

/// A BatchNormalization with nothing to fold into (pre-activation v2, after a pooling) becomes a
/// per-channel scale and shift with the statistics already combined.
struct BatchNormalizationToChannelAffine: CountingPass {
    let name = "batch-normalization-to-channel-affine"

    func run(on graph: inout Graph, context: OptimizationContext, statistics: inout OptimizerStatistics) throws -> Int {
        var count = 0
        let facts = try graph.inferFacts()
        var index = GraphIndex(graph)
        for position in graph.nodes.indices {
            statistics.ruleVisits += 1
            let node = graph.nodes[position]
            guard let factors = BatchNormalizationFactors(node, index: index),
                  let rank = facts[node.inputs[0]]?.dimensions?.count, rank >= 2 else { continue }
            // Stored as [C, 1, ..., 1] so that the standard Mul and Add it exports to broadcast over N and space.
            let shape = [factors.scale.count] + Array(repeating: 1, count: rank - 2)
            let base = node.name ?? node.outputs[0]
            let scale = index.addInitializer(.floats(factors.scale.map(Float.init), shape: shape), base: base + "_scale", to: &graph)
            let shift = index.addInitializer(.floats(factors.shift.map(Float.init), shape: shape), base: base + "_shift", to: &graph)
            index.replace(position, with: makeNode(name: node.name, opType: "ChannelAffine", domain: resinDomain,
                                                   inputs: [node.inputs[0], scale, shift], outputs: node.outputs, op: .channelAffine(.none)),
                          in: &graph)
            count += 1
        }
        return count
    }
}
