/// What running a graph costs: parameters and multiply-accumulates.
public struct GraphCost: Equatable, Sendable {
    /// Elements of all initializers, except filters a native file stores in a kernel's layout: their originals
    /// are counted instead, whether stored beside them or not.
    public var parameters: Int
    /// Bytes of those initializers.
    public var parameterBytes: Int
    /// Multiply-accumulates of the convolutions and matrix products, for the batch the facts were inferred at;
    /// nil when the count does not fit in 64 bits (a file declaring huge dimensions).
    public var multiplyAccumulates: Int?
}

extension Graph {
    /// Parameters and multiply-accumulates, given facts inferred for one image.
    public func cost(facts: [String: ValueFacts]) -> GraphCost {
        // A FusedConv's fifth input repeats its filters transformed or packed: the model's parameters are
        // the filters, counted once.
        // When the file stores only the packed copy, the original's shape (an attribute) is what is counted.
        var prepared = Set<String>()
        var parameters = 0
        var bytes = 0
        for node in nodes {
            guard case .fusedConv(let fused) = node.op, node.inputs.count > 4, !node.inputs[4].isEmpty else { continue }
            prepared.insert(node.inputs[4])
            if node.inputs[1].isEmpty, let weight = fused.weight {
                let count = elementCount(of: weight.shape) ?? Int.max
                parameters = saturatingSum(parameters, count)
                bytes = saturatingSum(bytes, DataType.float.byteCount(elements: count) ?? Int.max)
            }
        }
        // Initializers are in memory, so their counts fit; the sums saturate rather than trap all the same.
        for tensor in initializers where !prepared.contains(tensor.name ?? "") {
            parameters = saturatingSum(parameters, tensor.elementCount)
            bytes = saturatingSum(bytes, tensor.dataType == .string ? tensor.strings.reduce(0) { saturatingSum($0, $1.count) }
                : tensor.dataType.byteCount(elements: tensor.elementCount) ?? Int.max)
        }
        // Shapes come from the file: a declared dimension of 2^40 makes products past 2^63, reported as unknown.
        var macs: Int? = 0
        for node in nodes {
            guard let total = macs else { break }
            switch multiplyAccumulates(of: node, facts: facts) {
            case .some(.some(let count)):
                let (sum, overflow) = total.addingReportingOverflow(count)
                macs = overflow ? nil : sum
            case .some(.none): macs = nil
            case .none: break
            }
        }
        return GraphCost(parameters: parameters, parameterBytes: bytes, multiplyAccumulates: macs)
    }

    /// A node's multiply-accumulates: nil when it has none or its shapes are unknown, `.some(nil)` when the
    /// count overflows 64 bits.
    private func multiplyAccumulates(of node: Node, facts: [String: ValueFacts]) -> Int?? {
        func dims(_ index: Int) -> [Int]? {
            guard index < node.inputs.count else { return nil }
            return facts[node.inputs[index]]?.dimensions?.fixedShape
        }
        func product(_ output: [Int], _ factors: [Int]) -> Int?? {
            guard let count = elementCount(of: output + factors) else { return .some(nil) }
            return .some(count)
        }
        let output = node.outputs.first.flatMap { facts[$0]?.dimensions?.fixedShape }
        switch node.op {
        case .conv, .fusedConv:
            // Each output element sums over C/group input channels and the kernel window.
            var original: [Int]?
            if case .fusedConv(let fused) = node.op, node.inputs.count > 1, node.inputs[1].isEmpty { original = fused.weight?.shape }
            guard let output, let weight = original ?? dims(1), weight.count >= 2 else { return nil }
            return product(output, Array(weight.dropFirst()))
        case .gemm(let attributes):
            guard let output, let a = dims(0), a.count == 2 else { return nil }
            return product(output, [attributes.transA ? a[0] : a[1]])
        case .fusedGemm(let fused):
            guard let output, let a = dims(0), a.count == 2 else { return nil }
            return product(output, [fused.gemm.transA ? a[0] : a[1]])
        case .matMul:
            guard let output, let a = dims(0), let k = a.last else { return nil }
            return product(output, [k])
        default:
            return nil
        }
    }
}

/// `a + b`, or Int.max when that overflows.
private func saturatingSum(_ a: Int, _ b: Int) -> Int {
    let (sum, overflow) = a.addingReportingOverflow(b)
    return overflow ? Int.max : sum
}
