@testable import ResinIR

/// Small helpers to build graphs by hand in tests.
func node(
    _ opType: String, _ inputs: [String], _ outputs: [String], name: String? = nil,
    attributes: [Attribute] = [], opset: Int = 13
) throws -> Node {
    let op = try Operator(opType: opType, domain: "", attributes: attributes, opset: opset)
    return Node(name: name ?? outputs.first, opType: opType, inputs: inputs, outputs: outputs,
                attributes: attributes, op: op)
}

func input(_ name: String, _ dimensions: [Dimension], _ type: DataType = .float) -> ValueInfo {
    ValueInfo(name: name, type: .tensor(type, dimensions))
}

func output(_ name: String) -> ValueInfo { ValueInfo(name: name, type: nil) }

func ints(_ name: String, _ values: [Int]) -> Attribute {
    Attribute(name: name, value: .ints(values.map { Int64($0) }))
}

func int(_ name: String, _ value: Int) -> Attribute { Attribute(name: name, value: .int(Int64(value))) }

func weights(_ name: String, _ shape: [Int]) -> Tensor {
    .floats(Array(repeating: 0.5, count: elementCount(of: shape)!), shape: shape, name: name)
}

func int64s(_ name: String, _ values: [Int64]) -> Tensor {
    .int64s(values, shape: [values.count], name: name)
}
