/// What running a graph costs: parameters and multiply-accumulates.
public struct GraphCost: Equatable, Sendable {
    /// Elements of all initializers, except filters a native file stores a second time in a kernel's layout.
    public var parameters: Int
    /// Bytes of those initializers.
    public var parameterBytes: Int
    /// Multiply-accumulates of the convolutions and matrix products, for the batch the facts were inferred at.
    public var multiplyAccumulates: Int
}

extension Graph {
    /// Parameters and multiply-accumulates, given facts inferred for one image.
    public func cost(facts: [String: ValueFacts]) -> GraphCost {
        // A FusedConv's fifth input repeats its filters transformed or packed: the model's parameters are
        // the filters, counted once.
        var prepared = Set<String>()
        for node in nodes {
            if case .fusedConv = node.op, node.inputs.count > 4, !node.inputs[4].isEmpty { prepared.insert(node.inputs[4]) }
        }
        var parameters = 0
        var bytes = 0
        for tensor in initializers where !prepared.contains(tensor.name ?? "") {
            parameters += tensor.elementCount
            bytes += tensor.dataType == .string ? tensor.strings.reduce(0) { $0 + $1.count }
                : tensor.dataType.byteCount(elements: tensor.elementCount) ?? 0
        }
        var macs = 0
        for node in nodes {
            macs += multiplyAccumulates(of: node, facts: facts) ?? 0
        }
        return GraphCost(parameters: parameters, parameterBytes: bytes, multiplyAccumulates: macs)
    }

    private func multiplyAccumulates(of node: Node, facts: [String: ValueFacts]) -> Int? {
        func dims(_ index: Int) -> [Int]? {
            guard index < node.inputs.count else { return nil }
            return facts[node.inputs[index]]?.dimensions?.fixedShape
        }
        let output = node.outputs.first.flatMap { facts[$0]?.dimensions?.fixedShape }
        switch node.op {
        case .conv, .fusedConv:
            // Each output element sums over C/group input channels and the kernel window.
            guard let output, let weight = dims(1), weight.count >= 2 else { return nil }
            return elementCount(of: output).map { $0 * weight.dropFirst().reduce(1, *) }
        case .gemm(let attributes):
            guard let output, let a = dims(0), a.count == 2 else { return nil }
            return elementCount(of: output).map { $0 * (attributes.transA ? a[0] : a[1]) }
        case .fusedGemm(let fused):
            guard let output, let a = dims(0), a.count == 2 else { return nil }
            return elementCount(of: output).map { $0 * (fused.gemm.transA ? a[0] : a[1]) }
        case .matMul:
            guard let output, let a = dims(0), let k = a.last else { return nil }
            return elementCount(of: output).map { $0 * k }
        default:
            return nil
        }
    }
}
