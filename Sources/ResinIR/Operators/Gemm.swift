/// ONNX Gemm: `alpha * op(A) * op(B) + beta * C`, with `op` an optional transpose.
public struct GemmAttributes: Equatable, Sendable {
    public var alpha: Float
    public var beta: Float
    public var transA: Bool
    public var transB: Bool

    public init(alpha: Float = 1, beta: Float = 1, transA: Bool = false, transB: Bool = false) {
        self.alpha = alpha
        self.beta = beta
        self.transA = transA
        self.transB = transB
    }

    init(reading reader: AttributeReader) throws(AttributeProblem) {
        alpha = try reader.float("alpha", default: 1)
        beta = try reader.float("beta", default: 1)
        transA = try reader.int("transA", default: 0) != 0
        transB = try reader.int("transB", default: 0) != 0
    }

    func inferOutputs(_ inputs: InferenceInputs) throws(ShapeProblem) -> [ValueFacts] {
        let dataType = inputs[0]?.dataType
        let a = try inputs.dimensions(0, name: "A", rank: 2)
        let b = try inputs.dimensions(1, name: "B", rank: 2)
        guard let a, let b else { return [ValueFacts(dataType: dataType, dimensions: [.unknown, .unknown])] }
        let (m, ka) = transA ? (a[1], a[0]) : (a[0], a[1])
        let (kb, n) = transB ? (b[1], b[0]) : (b[0], b[1])
        if let left = ka.value, let right = kb.value, left != right {
            throw ShapeProblem("A \(describe(a))\(transA ? " (transposed)" : "") and B \(describe(b))\(transB ? " (transposed)" : "") have inner dimensions \(left) and \(right)")
        }
        if let c = inputs[2]?.dimensions {
            let result = try broadcast([m, n], c)
            if result.count != 2 || (result[0] != m && m.value != nil) || (result[1] != n && n.value != nil) {
                throw ShapeProblem("C \(describe(c)) does not broadcast to the output [\(m), \(n)]")
            }
        }
        return [ValueFacts(dataType: dataType, dimensions: [m, n])]
    }
}

/// ONNX MatMul: numpy `matmul`, with batch dimensions broadcast.
func inferMatMul(_ inputs: InferenceInputs) throws(ShapeProblem) -> [ValueFacts] {
    let dataType = inputs[0]?.dataType
    guard var a = inputs[0]?.dimensions, var b = inputs[1]?.dimensions else {
        return [ValueFacts(dataType: dataType, dimensions: nil)]
    }
    guard !a.isEmpty, !b.isEmpty else { throw ShapeProblem("MatMul inputs must not be scalars") }
    let aIsVector = a.count == 1
    let bIsVector = b.count == 1
    if aIsVector { a.insert(.fixed(1), at: 0) }
    if bIsVector { b.append(.fixed(1)) }
    if let left = a[a.count - 1].value, let right = b[b.count - 2].value, left != right {
        throw ShapeProblem("A \(describe(inputs[0]!.dimensions!)) and B \(describe(inputs[1]!.dimensions!)) have inner dimensions \(left) and \(right)")
    }
    var result = try broadcast(Array(a.dropLast(2)), Array(b.dropLast(2)))
    if !aIsVector { result.append(a[a.count - 2]) }
    if !bIsVector { result.append(b[b.count - 1]) }
    return [ValueFacts(dataType: dataType, dimensions: result)]
}
