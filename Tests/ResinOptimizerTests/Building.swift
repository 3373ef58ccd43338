import ResinIR
import Testing
import ResinRuntime
@testable import ResinOptimizer

/// Hand-built graphs for the rule tests.
func node(_ opType: String, _ inputs: [String], _ outputs: [String], attributes: [Attribute] = [], opset: Int = 13) throws -> Node {
    let op = try Operator(opType: opType, domain: "", attributes: attributes, opset: opset)
    return Node(name: outputs.first, opType: opType, inputs: inputs, outputs: outputs, attributes: attributes, op: op)
}

func input(_ name: String, _ dimensions: [Dimension]) -> ValueInfo {
    ValueInfo(name: name, type: .tensor(.float, dimensions))
}

func output(_ name: String) -> ValueInfo { ValueInfo(name: name, type: nil) }

func floats(_ name: String, _ values: [Float], _ shape: [Int]) -> Tensor { .floats(values, shape: shape, name: name) }

func int64s(_ name: String, _ values: [Int64]) -> Tensor { .int64s(values, shape: [values.count], name: name) }

func ints(_ name: String, _ values: [Int]) -> Attribute { Attribute(name: name, value: .ints(values.map { Int64($0) })) }

/// Seeded values in [-1, 1).
func seeded(_ count: Int, seed: UInt64) -> [Float] {
    var state = seed
    return (0..<count).map { _ in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(Int64(bitPattern: state >> 11) % 2000) / 1000 - 1
    }
}

/// Runs one pass (or the pipeline) on a model made of `graph`.
func optimize(_ graph: Graph, with passes: [any Pass], opset: Int = 13) throws -> (Graph, OptimizationReport) {
    let model = Model(irVersion: 8, opsetImports: [OpsetImport(domain: "", version: Int64(opset))], graph: graph)
    let (optimized, report) = try Optimizer(passes: passes).optimize(model) { node, inputs, opset in
        try NodeEvaluator.evaluate(node, inputs: inputs, opset: opset)
    }
    return (optimized.graph, report)
}

/// Runs a graph on the runtime and returns its first output.
func run(_ graph: Graph, feeds: [String: Tensor], opset: Int = 13) throws -> [Float] {
    let model = Model(irVersion: 8, opsetImports: [OpsetImport(domain: "", version: Int64(opset))], graph: graph)
    let session = try Session(model: model, options: SessionOptions(inputShapes: feeds.mapValues(\.shape)))
    let results = try session.run(feeds)
    return results[session.outputs[0].name]!.floatValues!
}

/// The largest absolute difference between two arrays; infinity (and a recorded issue) when their lengths
/// differ or an element is NaN in one only, so that `maxDifference(...) < tolerance` fails then.
func maxDifference(_ a: [Float], _ b: [Float], sourceLocation: SourceLocation = #_sourceLocation) -> Float {
    guard a.count == b.count else {
        Issue.record("outputs differ in length: \(a.count) and \(b.count) elements", sourceLocation: sourceLocation)
        return .infinity
    }
    var largest: Float = 0
    for (x, y) in zip(a, b) where !(x.isNaN && y.isNaN) {
        let difference = abs(x - y)
        // A NaN on one side only: `max` would skip it.
        if difference.isNaN { return .infinity }
        largest = max(largest, difference)
    }
    return largest
}

extension Graph {
    var opTypes: [String] { nodes.map(\.opType) }
}
