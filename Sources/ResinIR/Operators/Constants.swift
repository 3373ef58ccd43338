/// ONNX Constant: the value comes from one of its `value*` attributes.
public struct ConstantAttributes: Equatable, Sendable {
    public var value: Tensor
    public init(value: Tensor) { self.value = value }

    init(reading reader: AttributeReader) throws(AttributeProblem) {
        if let tensor = try reader.tensor("value") {
            value = tensor
        } else if let float = try reader.float("value_float") {
            value = .floats([float], shape: [])
        } else if let floats = try reader.floats("value_floats") {
            value = .floats(floats, shape: [floats.count])
        } else if let int = try reader.int("value_int") {
            value = .int64s([Int64(int)], shape: [])
        } else if let ints = try reader.ints("value_ints") {
            value = .int64s(ints.map { Int64($0) }, shape: [ints.count])
        } else if let string = try reader.string("value_string") {
            value = Tensor(name: nil, dataType: .string, shape: [], storage: .empty, strings: [Array(string.utf8)])
        } else if let strings = try reader.strings("value_strings") {
            value = Tensor(name: nil, dataType: .string, shape: [strings.count], storage: .empty,
                           strings: strings.map { Array($0.utf8) })
        } else if case .sparseTensor(let sparse)? = reader.value("sparse_value") {
            value = try sparse.densified()
        } else {
            throw .invalid(attribute: "value", reason: "is required (or one of value_float, value_floats, value_int, value_ints, value_string, value_strings)")
        }
    }
}

extension SparseTensor {
    /// The dense tensor: zeros with `values` placed at `indices`, which are either linear positions
    /// ([NNZ]) or coordinates ([NNZ, rank]) as the ONNX format allows.
    func densified() throws(AttributeProblem) -> Tensor {
        func invalid(_ reason: String) -> AttributeProblem { .invalid(attribute: "sparse_value", reason: reason) }
        let shape = self.shape.map { Int($0) }
        guard shape.allSatisfy({ $0 >= 0 && $0 <= Dimension.maximum }), let count = elementCount(of: shape),
              values.dataType != .string, values.dataType.bitWidth >= 8,
              let byteCount = values.dataType.byteCount(elements: count), byteCount <= 1 << 31 else {
            throw invalid("has an unsupported shape \(shape) or type \(values.dataType)")
        }
        let elementSize = values.dataType.bitWidth / 8
        let nonZero = values.elementCount
        guard let positions = indices.integerValues else { throw invalid("has indices that are not integers") }
        var linear: [Int] = []
        if indices.rank == 1, positions.count == nonZero {
            linear = positions
        } else if indices.rank == 2, indices.shape[0] == nonZero, indices.shape[1] == shape.count {
            for entry in 0..<nonZero {
                var index = 0
                for axis in 0..<shape.count { index = index * shape[axis] + positions[entry * shape.count + axis] }
                linear.append(index)
            }
        } else {
            throw invalid("has indices of shape \(indices.shape) for \(nonZero) values")
        }
        guard linear.allSatisfy({ $0 >= 0 && $0 < count }) else { throw invalid("has an index outside shape \(shape)") }
        let storage = TensorStorage(byteCount: byteCount) { out in
            out.initializeMemory(as: UInt8.self, repeating: 0)
            for (entry, index) in linear.enumerated() {
                out.baseAddress!.advanced(by: index * elementSize).copyMemory(
                    from: values.storage.bytes.baseAddress!.advanced(by: entry * elementSize), byteCount: elementSize)
            }
        }
        return Tensor(name: values.name, dataType: values.dataType, shape: shape, storage: storage)
    }
}

/// ONNX ConstantOfShape: a tensor of the input's shape filled with one value (default float 0).
public struct ConstantOfShapeAttributes: Equatable, Sendable {
    /// The one-element fill value.
    public var value: Tensor
    public init(value: Tensor = .floats([0], shape: [1])) { self.value = value }
    init(reading reader: AttributeReader) throws(AttributeProblem) {
        value = try reader.tensor("value") ?? .floats([0], shape: [1])
        guard value.elementCount == 1 else {
            throw .invalid(attribute: "value", reason: "must hold one element, found shape \(describe(value.shape))")
        }
    }

    func inferOutputs(_ inputs: InferenceInputs) -> [ValueFacts] {
        var shape = inputs[0]?.elements
        if let dims = shape, dims.contains(where: { ($0.value ?? 0) < 0 || ($0.value ?? 0) > Dimension.maximum }) {
            shape = nil
        }
        var result = ValueFacts(dataType: value.dataType, dimensions: shape)
        if let shape, shape.count <= 1, let count = shape.isEmpty ? 1 : shape[0].value,
           count <= ValueFacts.elementLimit, let fill = value.integerValues?.first {
            result.elements = Array(repeating: .fixed(fill), count: count)
        }
        return [result]
    }
}

/// ONNX Shape: the input's dimensions as an int64 vector, optionally sliced (opset 15 on).
public struct ShapeAttributes: Equatable, Sendable {
    public var start: Int
    public var end: Int?
    public init(start: Int = 0, end: Int? = nil) {
        self.start = start
        self.end = end
    }
    init(reading reader: AttributeReader) throws(AttributeProblem) {
        start = try reader.int("start", default: 0)
        end = try reader.int("end")
    }

    /// The slice of a shape of the given rank, clamped as the spec says.
    public func range(rank: Int) -> Range<Int> {
        func clamp(_ index: Int) -> Int { min(max(index < 0 ? index + rank : index, 0), rank) }
        let lower = clamp(start)
        return lower..<max(lower, clamp(end ?? rank))
    }

    func inferOutputs(_ inputs: InferenceInputs) -> [ValueFacts] {
        guard let x = inputs[0]?.dimensions else { return [ValueFacts(dataType: .int64, dimensions: [.unknown])] }
        let elements = Array(x[range(rank: x.count)])
        return [ValueFacts(dataType: .int64, dimensions: [.fixed(elements.count)], elements: elements)]
    }
}

/// ONNX Gather along `axis`.
public struct GatherAttributes: Equatable, Sendable {
    public var axis: Int
    public init(axis: Int = 0) { self.axis = axis }
    init(reading reader: AttributeReader) throws(AttributeProblem) {
        axis = try reader.int("axis", default: 0)
    }

    func inferOutputs(_ inputs: InferenceInputs) throws(ShapeProblem) -> [ValueFacts] {
        let dataType = inputs[0]?.dataType
        guard let data = inputs[0]?.dimensions, let indices = inputs[1]?.dimensions else {
            return [ValueFacts(dataType: dataType, dimensions: nil)]
        }
        let axis = try normalizedAxis(self.axis, rank: data.count)
        let output = Array(data[..<axis]) + indices + Array(data[(axis + 1)...])
        var result = ValueFacts(dataType: dataType, dimensions: output)
        if data.count == 1, let elements = inputs[0]?.elements, let picks = inputs[1]?.fixedElements {
            var gathered: [Dimension] = []
            for pick in picks {
                let index = pick < 0 ? pick + elements.count : pick
                guard index >= 0, index < elements.count else {
                    throw ShapeProblem("index \(pick) is out of range for data of shape \(describe(data))")
                }
                gathered.append(elements[index])
            }
            result.elements = gathered
        }
        return [result]
    }
}
