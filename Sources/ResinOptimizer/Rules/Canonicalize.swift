import ResinIR

/// `MatMul(A, B) + bias` with a constant 2-D B and a vector bias becomes one Gemm.
struct MatMulAddToGemm: CountingPass {
    let name = "matmul-add-to-gemm"

    func run(on graph: inout Graph, context: OptimizationContext, statistics: inout OptimizerStatistics) throws -> Int {
        var count = 0
        var index = GraphIndex(graph)
        // Rewriting a MatMul and its Add changes no value's shape, so one inference serves the whole sweep.
        let facts = try graph.inferFacts()
        for position in graph.nodes.indices where !index.removed[position] {
            statistics.ruleVisits += 1
            let node = graph.nodes[position]
            guard case .matMul = node.op, let weight = index.constant(node.inputs[1]), weight.rank == 2,
                  facts[node.inputs[0]]?.dimensions?.count == 2,
                  let add = index.soleConsumer(of: node.outputs[0]), case .binary(.add) = graph.nodes[add].op else { continue }
            let addNode = graph.nodes[add]
            let other = addNode.inputs[0] == node.outputs[0] ? addNode.inputs[1] : addNode.inputs[0]
            guard let bias = index.constant(other), bias.shape == [weight.shape[1]] || bias.shape == [1, weight.shape[1]] else { continue }
            let gemm = makeNode(name: node.name, opType: "Gemm", inputs: [node.inputs[0], node.inputs[1], other],
                                outputs: [addNode.outputs[0]], op: .gemm(GemmAttributes()))
            index.delete(position, in: &graph)
            index.replace(add, with: gemm, in: &graph)
            count += 1
        }
        index.compact(&graph)
        return count
    }
}

/// A Gemm whose B is a constant float matrix not transposed (`[K, N]`, as TensorFlow's MatMul stores a
/// classifier's weights) takes it transposed, `[N, K]` with `transB = 1`: the layout PyTorch's exports give and
/// the classifier's row product reads (the other layout ran on sgemm in about twice the time). Transposing is
/// exact; a B that other nodes also read stays for them.
struct TransposeGemmWeights: CountingPass {
    let name = "transpose-gemm-weights"

    func run(on graph: inout Graph, context: OptimizationContext, statistics: inout OptimizerStatistics) throws -> Int {
        var count = 0
        var index = GraphIndex(graph)
        for position in graph.nodes.indices {
            statistics.ruleVisits += 1
            var node = graph.nodes[position]
            guard case .gemm(var attributes) = node.op, !attributes.transB, node.inputs.count >= 2,
                  let weight = index.constant(node.inputs[1]), weight.rank == 2, let values = weight.floatValues else { continue }
            let k = weight.shape[0], n = weight.shape[1]
            var transposed = [Float](repeating: 0, count: values.count)
            for row in 0..<k {
                for column in 0..<n { transposed[column * k + row] = values[row * n + column] }
            }
            node.inputs[1] = index.addInitializer(.floats(transposed, shape: [n, k]), base: node.inputs[1] + "_transposed", to: &graph)
            attributes.transB = true
            node.op = .gemm(attributes)
            node.setAttribute(Attribute(name: "transB", value: .int(1)))
            index.replace(position, with: node, in: &graph)
            count += 1
        }
        return count
    }
}

/// `ReduceMean(Transpose(x))` reduces `x` itself when the Transpose only moves the reduced axes, so that
/// the axes kept stay in their order: TensorFlow's exports take the feature map back to NHWC and average
/// over H and W (axes 1 and 2), which is x's axes 2 and 3 without the copy. The ReduceMean must drop the
/// reduced axes (with keepdims the output's shape would keep the transposed order) and be the Transpose's
/// only reader.
struct ReduceMeanThroughTranspose: CountingPass {
    let name = "reducemean-through-transpose"

    func run(on graph: inout Graph, context: OptimizationContext, statistics: inout OptimizerStatistics) throws -> Int {
        var count = 0
        var index = GraphIndex(graph)
        for position in graph.nodes.indices where !index.removed[position] {
            statistics.ruleVisits += 1
            var node = graph.nodes[position]
            guard case .reduceMean(var attributes) = node.op, !attributes.keepDimensions,
                  let transposePosition = index.producer[node.inputs[0]], index.soleConsumer(of: node.inputs[0]) == position,
                  case .transpose(let transpose) = graph.nodes[transposePosition].op, let permutation = transpose.permutation,
                  let axes = reduceAxes(node, attributes, index: index), !axes.isEmpty else { continue }
            let rank = permutation.count
            let reduced = Set(axes.map { $0 < 0 ? $0 + rank : $0 })
            guard reduced.count == axes.count, reduced.allSatisfy({ (0..<rank).contains($0) }) else { continue }
            // The kept axes, in output order, must be x's axes in increasing order.
            let kept = (0..<rank).filter { !reduced.contains($0) }.map { permutation[$0] }
            guard kept == kept.sorted() else { continue }
            let sourceAxes = reduced.map { permutation[$0] }.sorted()
            let source = graph.nodes[transposePosition].inputs[0]
            if attributes.axes != nil {
                attributes.axes = sourceAxes
                node.inputs = [source]
                node.setAttribute(Attribute(name: "axes", value: .ints(sourceAxes.map { Int64($0) })))
            } else {
                // Opset 18 on: the axes are an input.
                let name = index.addInitializer(.int64s(sourceAxes.map { Int64($0) }, shape: [sourceAxes.count]),
                                                base: node.inputs[1] + "_source", to: &graph)
                node.inputs = [source, name]
            }
            node.op = .reduceMean(attributes)
            index.delete(transposePosition, in: &graph)
            index.replace(position, with: node, in: &graph)
            count += 1
        }
        index.compact(&graph)
        return count
    }
}

/// ReduceMean over every spatial axis with keepdims is GlobalAveragePool.
struct ReduceMeanToGlobalAveragePool: CountingPass {
    let name = "reducemean-to-global-average-pool"

    func run(on graph: inout Graph, context: OptimizationContext, statistics: inout OptimizerStatistics) throws -> Int {
        var count = 0
        let facts = try graph.inferFacts()
        let index = GraphIndex(graph)
        for position in graph.nodes.indices {
            statistics.ruleVisits += 1
            let node = graph.nodes[position]
            guard case .reduceMean(let attributes) = node.op, attributes.keepDimensions,
                  let rank = facts[node.inputs[0]]?.dimensions?.count, rank >= 3 else { continue }
            guard let axes = reduceAxes(node, attributes, index: index), Set(axes.map { $0 < 0 ? $0 + rank : $0 }) == Set(2..<rank),
                  axes.count == rank - 2 else { continue }
            graph.nodes[position] = makeNode(name: node.name, opType: "GlobalAveragePool", inputs: [node.inputs[0]],
                                             outputs: node.outputs, op: .globalAveragePool)
            count += 1
        }
        return count
    }
}

/// A Sum of two inputs is an Add.
struct SumToAdd: CountingPass {
    let name = "sum-to-add"

    func run(on graph: inout Graph, context: OptimizationContext, statistics: inout OptimizerStatistics) throws -> Int {
        var count = 0
        for position in graph.nodes.indices {
            statistics.ruleVisits += 1
            let node = graph.nodes[position]
            guard case .sum = node.op, node.inputs.count == 2 else { continue }
            graph.nodes[position] = makeNode(name: node.name, opType: "Add", inputs: node.inputs, outputs: node.outputs, op: .binary(.add))
            count += 1
        }
        return count
    }
}

/// A Reshape that only flattens `[N, C, 1, 1]` (after global pooling) to `[N, C]` is a Flatten.
struct ReshapeToFlatten: CountingPass {
    let name = "reshape-to-flatten"

    func run(on graph: inout Graph, context: OptimizationContext, statistics: inout OptimizerStatistics) throws -> Int {
        var count = 0
        let facts = try graph.inferFacts()
        for position in graph.nodes.indices {
            statistics.ruleVisits += 1
            let node = graph.nodes[position]
            guard case .reshape = node.op, let input = facts[node.inputs[0]]?.dimensions, input.count >= 3,
                  input[2...].allSatisfy({ $0 == .fixed(1) }), let output = facts[node.outputs[0]]?.dimensions,
                  output == Array(input.prefix(2)) else { continue }
            graph.nodes[position] = makeNode(name: node.name, opType: "Flatten", inputs: [node.inputs[0]], outputs: node.outputs,
                                             attributes: [Attribute(name: "axis", value: .int(1))], op: .flatten(FlattenAttributes(axis: 1)))
            count += 1
        }
        return count
    }
}
