/// ONNX Flatten: to 2-D at `axis`.
public struct FlattenAttributes: Equatable, Sendable {
    public var axis: Int
    public init(axis: Int = 1) { self.axis = axis }
    init(reading reader: AttributeReader) throws(AttributeProblem) {
        axis = try reader.int("axis", default: 1)
    }

    func inferOutputs(_ inputs: InferenceInputs) throws(ShapeProblem) -> [ValueFacts] {
        guard let x = inputs[0]?.dimensions else { return [ValueFacts(dataType: inputs[0]?.dataType, dimensions: [.unknown, .unknown])] }
        let split = try normalizedAxis(axis, rank: x.count, allowingEnd: true)
        return [ValueFacts(dataType: inputs[0]?.dataType,
                           dimensions: [product(Array(x[..<split])), product(Array(x[split...]))])]
    }
}

/// ONNX Reshape: the target shape is the second input; 0 copies a dimension, -1 is inferred.
public struct ReshapeAttributes: Equatable, Sendable {
    /// Opset 14 on: a 0 means an empty dimension instead of "copy".
    public var allowZero: Bool
    /// Opsets before 5 give the target shape as an attribute instead of an input.
    public var shape: [Int]?
    public init(allowZero: Bool = false, shape: [Int]? = nil) {
        self.allowZero = allowZero
        self.shape = shape
    }
    init(reading reader: AttributeReader, opset: Int) throws(AttributeProblem) {
        allowZero = try reader.int("allowzero", default: 0) != 0
        if opset < 5 { shape = try reader.ints("shape") }
    }

    func inferOutputs(_ inputs: InferenceInputs) throws(ShapeProblem) -> [ValueFacts] {
        let dataType = inputs[0]?.dataType
        guard let requested = shape.map({ $0.map(Dimension.fixed) }) ?? inputs[1]?.elements else {
            let rank = inputs[1]?.dimensions?.first?.value
            return [ValueFacts(dataType: dataType, dimensions: rank.map { Array(repeating: .unknown, count: $0) })]
        }
        let x = inputs[0]?.dimensions
        var output: [Dimension] = []
        var inferredAt: Int?
        for (index, element) in requested.enumerated() {
            switch element {
            case .fixed(-1):
                guard inferredAt == nil else { throw ShapeProblem("shape \(describe(requested)) has more than one -1") }
                inferredAt = index
                output.append(.unknown)
            case .fixed(0) where !allowZero:
                guard let x else { output.append(.unknown); continue }
                guard index < x.count else {
                    throw ShapeProblem("shape \(describe(requested)) copies dimension \(index) of input \(describe(x)), which has no such dimension")
                }
                output.append(x[index])
            case .fixed(let value) where value < 0 || value > Dimension.maximum:
                throw ShapeProblem("shape \(describe(requested)) has the invalid dimension \(value)")
            default:
                output.append(element)
            }
        }
        if let x, let total = symbolicProduct(x) {
            if let inferredAt {
                var known = output
                known.remove(at: inferredAt)
                if let part = symbolicProduct(known), part.factor != 0, total.factor % part.factor == 0 {
                    var remaining = total.symbols
                    var divides = true
                    for symbol in part.symbols {
                        if let position = remaining.firstIndex(of: symbol) { remaining.remove(at: position) } else { divides = false }
                    }
                    if divides {
                        let factor = total.factor / part.factor
                        if remaining.isEmpty {
                            output[inferredAt] = .fixed(factor)
                        } else if remaining.count == 1, factor == 1 {
                            output[inferredAt] = .symbolic(remaining[0])
                        }
                    } else if part.symbols.isEmpty, total.symbols.isEmpty {
                        throw ShapeProblem("cannot reshape input \(describe(x)) to \(describe(requested))")
                    }
                } else if let part = symbolicProduct(known), part.symbols.isEmpty, total.symbols.isEmpty {
                    throw ShapeProblem("cannot reshape input \(describe(x)) (\(total.factor) elements) to \(describe(requested))")
                }
            } else if let part = symbolicProduct(output), part.symbols.isEmpty, total.symbols.isEmpty, part.factor != total.factor {
                throw ShapeProblem("cannot reshape input \(describe(x)) (\(total.factor) elements) to \(describe(requested)) (\(part.factor) elements)")
            }
        }
        var result = ValueFacts(dataType: dataType, dimensions: output)
        if let elements = inputs[0]?.elements, output.count <= 1 { result.elements = elements }
        return [result]
    }
}

/// ONNX Transpose: permutes the axes (by default reverses them).
public struct TransposeAttributes: Equatable, Sendable {
    public var permutation: [Int]?
    public init(permutation: [Int]? = nil) { self.permutation = permutation }
    init(reading reader: AttributeReader) throws(AttributeProblem) {
        permutation = try reader.ints("perm")
        if let permutation, Set(permutation) != Set(0..<permutation.count) {
            throw .invalid(attribute: "perm", reason: "must be a permutation of 0..<\(permutation.count), found \(permutation)")
        }
    }

    /// The permutation for an input of the given rank.
    public func permutation(rank: Int) throws(ShapeProblem) -> [Int] {
        let permutation = self.permutation ?? Array((0..<rank).reversed())
        guard permutation.count == rank else {
            throw ShapeProblem("perm \(permutation) does not match an input of rank \(rank)")
        }
        return permutation
    }

    func inferOutputs(_ inputs: InferenceInputs) throws(ShapeProblem) -> [ValueFacts] {
        guard let x = inputs[0]?.dimensions else { return [ValueFacts(dataType: inputs[0]?.dataType, dimensions: nil)] }
        return [ValueFacts(dataType: inputs[0]?.dataType, dimensions: try permutation(rank: x.count).map { x[$0] })]
    }
}

/// ONNX Concat along `axis`.
public struct ConcatAttributes: Equatable, Sendable {
    public var axis: Int
    public init(axis: Int) { self.axis = axis }
    init(reading reader: AttributeReader, opset: Int) throws(AttributeProblem) {
        // Concat-1 defaulted the axis to 1; from opset 4 on it is required.
        guard let axis = try reader.int("axis") ?? (opset < 4 ? 1 : nil) else {
            throw .invalid(attribute: "axis", reason: "is required")
        }
        self.axis = axis
    }

    func inferOutputs(_ inputs: InferenceInputs) throws(ShapeProblem) -> [ValueFacts] {
        let present = inputs.facts.compactMap { $0 }
        let dataType = present.lazy.compactMap(\.dataType).first
        guard present.count == inputs.facts.count, var output = present.first?.dimensions else {
            return [ValueFacts(dataType: dataType, dimensions: nil)]
        }
        let axis = try normalizedAxis(self.axis, rank: output.count)
        var total: Int? = output[axis].value
        for facts in present.dropFirst() {
            guard let dims = facts.dimensions else { return [ValueFacts(dataType: dataType, dimensions: nil)] }
            guard dims.count == output.count else {
                throw ShapeProblem("inputs of shapes \(describe(output)) and \(describe(dims)) have different ranks")
            }
            for index in 0..<dims.count where index != axis {
                if let a = output[index].value, let b = dims[index].value, a != b {
                    throw ShapeProblem("inputs of shapes \(describe(output)) and \(describe(dims)) differ outside axis \(axis)")
                }
                if output[index].value == nil { output[index] = dims[index] }
            }
            total = total.flatMap { sum in dims[axis].value.map { sum + $0 } }
        }
        output[axis] = total.map { .fixed($0) } ?? .unknown
        var result = ValueFacts(dataType: dataType, dimensions: output)
        if output.count == 1 {
            let lists = present.compactMap(\.elements)
            if lists.count == present.count { result.elements = lists.flatMap { $0 } }
        }
        return [result]
    }
}

/// ONNX Squeeze and Unsqueeze: axes are an attribute before opset 13 and an input from 13 on.
public struct AxesAttributes: Equatable, Sendable {
    /// The axes given as an attribute; nil when the input carries them (or, for Squeeze, all 1s go).
    public var axes: [Int]?
    public init(axes: [Int]? = nil) { self.axes = axes }
    init(reading reader: AttributeReader) throws(AttributeProblem) {
        axes = try reader.ints("axes")
    }

    /// The axes from the attribute or from a known second input.
    func resolvedAxes(_ inputs: InferenceInputs) -> [Int]? {
        axes ?? inputs[1]?.fixedElements
    }

    func inferUnsqueeze(_ inputs: InferenceInputs) throws(ShapeProblem) -> [ValueFacts] {
        let dataType = inputs[0]?.dataType
        guard let x = inputs[0]?.dimensions, let axes = resolvedAxes(inputs) else {
            return [ValueFacts(dataType: dataType, dimensions: nil)]
        }
        let rank = x.count + axes.count
        var normalized: [Int] = []
        for axis in axes { normalized.append(try normalizedAxis(axis, rank: rank)) }
        guard Set(normalized).count == normalized.count else { throw ShapeProblem("axes \(axes) repeat an axis") }
        var output: [Dimension] = []
        var source = x.makeIterator()
        for index in 0..<rank {
            output.append(normalized.contains(index) ? .fixed(1) : source.next()!)
        }
        var result = ValueFacts(dataType: dataType, dimensions: output)
        if output.count <= 1 { result.elements = inputs[0]?.elements }
        return [result]
    }

    func inferSqueeze(_ inputs: InferenceInputs) throws(ShapeProblem) -> [ValueFacts] {
        let dataType = inputs[0]?.dataType
        guard let x = inputs[0]?.dimensions else { return [ValueFacts(dataType: dataType, dimensions: nil)] }
        var drop: Set<Int>
        if let axes = resolvedAxes(inputs) {
            drop = []
            for axis in axes {
                let index = try normalizedAxis(axis, rank: x.count)
                if let value = x[index].value, value != 1 {
                    throw ShapeProblem("cannot squeeze axis \(axis) of input \(describe(x)): it is \(value), not 1")
                }
                drop.insert(index)
            }
        } else if inputs.isPresent(1) {
            return [ValueFacts(dataType: dataType, dimensions: nil)]
        } else {
            if x.contains(where: { $0.value == nil }) { return [ValueFacts(dataType: dataType, dimensions: nil)] }
            drop = Set(x.indices.filter { x[$0] == .fixed(1) })
        }
        let output = x.indices.filter { !drop.contains($0) }.map { x[$0] }
        var result = ValueFacts(dataType: dataType, dimensions: output)
        if output.count <= 1 { result.elements = inputs[0]?.elements }
        return [result]
    }
}
