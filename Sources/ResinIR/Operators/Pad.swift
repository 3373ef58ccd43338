/// How Pad fills the border.
public enum PadMode: String, Equatable, Sendable {
    case constant
    case reflect
    case edge
    case wrap
}

/// ONNX Pad: pads and value are attributes before opset 11 and inputs from 11 on.
public struct PadAttributes: Equatable, Sendable {
    public var mode: PadMode
    /// The pads attribute (before opset 11): begins for every axis, then ends.
    public var pads: [Int]?
    /// The fill value attribute (before opset 11).
    public var value: Float

    public init(mode: PadMode = .constant, pads: [Int]? = nil, value: Float = 0) {
        self.mode = mode
        self.pads = pads
        self.value = value
    }

    init(reading reader: AttributeReader, opset: Int) throws(AttributeProblem) {
        let modeText = try reader.string("mode") ?? "constant"
        guard let mode = PadMode(rawValue: modeText) else {
            throw .invalid(attribute: "mode", reason: "has unknown value '\(modeText)'")
        }
        self.mode = mode
        if opset < 11 {
            guard let pads = try reader.ints("pads") else { throw .invalid(attribute: "pads", reason: "is required") }
            self.pads = pads
        }
        value = try reader.float("value", default: 0)
    }

    func inferOutputs(_ inputs: InferenceInputs) throws(ShapeProblem) -> [ValueFacts] {
        let dataType = inputs[0]?.dataType
        guard let x = inputs[0]?.dimensions, let pads = pads ?? inputs[1]?.fixedElements else {
            return [ValueFacts(dataType: dataType, dimensions: inputs[0]?.dimensions.map { $0.map { _ in .unknown } })]
        }
        var axes = Array(0..<x.count)
        if let given = inputs[3]?.fixedElements {
            axes = []
            for axis in given { axes.append(try normalizedAxis(axis, rank: x.count)) }
        }
        guard pads.count == 2 * axes.count else {
            throw ShapeProblem("pads \(pads) must have \(2 * axes.count) values for input \(describe(x))")
        }
        var output = x
        for (position, axis) in axes.enumerated() {
            guard let size = x[axis].value else { output[axis] = .unknown; continue }
            let (partial, overflowBegin) = size.addingReportingOverflow(pads[position])
            let (padded, overflowEnd) = partial.addingReportingOverflow(pads[position + axes.count])
            guard !overflowBegin, !overflowEnd, padded <= Dimension.maximum else {
                throw ShapeProblem("pads \(pads) make input \(describe(x)) too large")
            }
            guard padded >= 0 else { throw ShapeProblem("pads \(pads) remove more than input \(describe(x)) has") }
            output[axis] = .fixed(padded)
        }
        return [ValueFacts(dataType: dataType, dimensions: output)]
    }
}

/// ONNX ReduceMean: axes are an attribute before opset 18 and an input from 18 on.
public struct ReduceAttributes: Equatable, Sendable {
    public var axes: [Int]?
    public var keepDimensions: Bool
    /// Opset 18 on: with no axes, do nothing instead of reducing everything.
    public var noopWithEmptyAxes: Bool

    public init(axes: [Int]? = nil, keepDimensions: Bool = true, noopWithEmptyAxes: Bool = false) {
        self.axes = axes
        self.keepDimensions = keepDimensions
        self.noopWithEmptyAxes = noopWithEmptyAxes
    }

    init(reading reader: AttributeReader) throws(AttributeProblem) {
        axes = try reader.ints("axes")
        keepDimensions = try reader.int("keepdims", default: 1) != 0
        noopWithEmptyAxes = try reader.int("noop_with_empty_axes", default: 0) != 0
    }

    func inferOutputs(_ inputs: InferenceInputs) throws(ShapeProblem) -> [ValueFacts] {
        let dataType = inputs[0]?.dataType
        guard let x = inputs[0]?.dimensions else { return [ValueFacts(dataType: dataType, dimensions: nil)] }
        var reduced: Set<Int>
        if let given = axes ?? inputs[1]?.fixedElements, !given.isEmpty {
            reduced = []
            for axis in given { reduced.insert(try normalizedAxis(axis, rank: x.count)) }
        } else if inputs.isPresent(1) && axes == nil && inputs[1]?.fixedElements == nil {
            return [ValueFacts(dataType: dataType, dimensions: nil)]
        } else {
            reduced = noopWithEmptyAxes ? [] : Set(x.indices)
        }
        let output: [Dimension] = x.indices.compactMap { index in
            reduced.contains(index) ? (keepDimensions ? .fixed(1) : nil) : x[index]
        }
        return [ValueFacts(dataType: dataType, dimensions: output)]
    }
}
