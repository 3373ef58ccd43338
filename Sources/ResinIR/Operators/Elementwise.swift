/// The binary arithmetic operators, with numpy broadcasting.
public enum BinaryOperation: String, Equatable, Sendable {
    case add = "Add"
    case sub = "Sub"
    case mul = "Mul"
    case div = "Div"

    /// The operation on integers, as shape arithmetic uses it (division truncates, like ONNX's int Div).
    func apply(_ lhs: Int, _ rhs: Int) -> Int? {
        switch self {
        case .add: return lhs.addingReportingOverflow(rhs).overflow ? nil : lhs + rhs
        case .sub: return lhs.subtractingReportingOverflow(rhs).overflow ? nil : lhs - rhs
        case .mul: return lhs.multipliedReportingOverflow(by: rhs).overflow ? nil : lhs * rhs
        case .div: return rhs == 0 ? nil : lhs / rhs
        }
    }

    func inferOutputs(_ inputs: InferenceInputs) throws(ShapeProblem) -> [ValueFacts] {
        try inferBroadcasting(inputs, combine: apply)
    }
}

/// Output facts of an elementwise operator over any number of inputs, folding small integer elements.
func inferBroadcasting(
    _ inputs: InferenceInputs, combine: ((Int, Int) -> Int?)? = nil
) throws(ShapeProblem) -> [ValueFacts] {
    let present = inputs.facts.compactMap { $0 }
    let dataType = present.lazy.compactMap(\.dataType).first
    var dimensions: [Dimension]? = []
    for facts in present {
        guard let current = dimensions, let next = facts.dimensions else { dimensions = nil; continue }
        dimensions = try broadcast(current, next)
    }
    if present.count != inputs.facts.count { dimensions = nil }
    var result = ValueFacts(dataType: dataType, dimensions: dimensions)
    if let combine, let dimensions, dimensions.count <= 1, dataType == .int64 || dataType == .int32,
       let count = dimensions.isEmpty ? 1 : dimensions[0].value {
        let lists = present.compactMap(\.fixedElements)
        if lists.count == present.count {
            var values: [Int]? = Array(repeating: 0, count: count)
            for index in 0..<count {
                var value: Int?
                for list in lists {
                    guard !list.isEmpty else { values = nil; break }
                    let element = list[list.count == 1 ? 0 : index]
                    value = value.map { combine($0, element) } ?? element
                    if value == nil { break }
                }
                guard let value else { values = nil; break }
                values?[index] = value
            }
            result.elements = values?.map { .fixed($0) }
        }
    }
    return [result]
}
