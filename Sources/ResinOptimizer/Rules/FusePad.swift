import ResinIR

/// An explicit constant `Pad` of the spatial axes before a Conv, MaxPool or AveragePool becomes the window's
/// own pads, as TensorFlow's exporter writes Keras' `ZeroPadding2D` before VALID windows. The padded copy
/// of the tensor goes; the window reads the border as it does for its own pads.
///
/// When the two agree:
/// - Conv (and FusedConv): its pads are zeros, so the Pad's value must be 0.
/// - AveragePool: a zero border counted in every window is `count_include_pad = 1`; the pool's own pads must
///   be zero unless it already counts them.
/// - MaxPool: its pads are never the maximum, so a Pad of `-inf` agrees, and a Pad of 0 when the input cannot
///   be negative (a Relu, or a Relu or Clip from 0 up fused into its producer): every window holds a cell of the
///   input (below), whose largest is then at least the 0 it would have read.
/// A pool fuses only if every window still holds a cell of the input: no `ceil_mode`, no dilation, pads on each
/// side at most the window's size minus one; a MaxPool that also returns indices keeps its Pad. Only pads of
/// at least zero on the spatial axes fuse (a negative pad crops), and only a Pad whose output nothing else reads.
struct FusePadIntoWindow: CountingPass {
    let name = "fuse-pad"

    func run(on graph: inout Graph, context: OptimizationContext, statistics: inout OptimizerStatistics) throws -> Int {
        var count = 0
        var index = GraphIndex(graph)
        let facts = try graph.inferFacts()
        for padPosition in graph.nodes.indices where !index.removed[padPosition] {
            statistics.ruleVisits += 1
            let pad = graph.nodes[padPosition]
            guard case .pad(let attributes) = pad.op, attributes.mode == .constant,
                  let rank = facts[pad.inputs[0]]?.dimensions?.count, rank >= 3,
                  let spatial = spatialPads(pad, attributes: attributes, rank: rank, index: index),
                  let value = padValue(pad, attributes: attributes, index: index),
                  let windowPosition = index.soleConsumer(of: pad.outputs[0]) else { continue }
            var window = graph.nodes[windowPosition]
            guard window.inputs.first == pad.outputs[0],
                  fuse(spatial, value: value, into: &window, padInput: pad.inputs[0], graph: graph, index: index) else { continue }
            window.inputs[0] = pad.inputs[0]
            index.delete(padPosition, in: &graph)
            index.replace(windowPosition, with: window, in: &graph)
            count += 1
        }
        index.compact(&graph)
        return count
    }

    /// The Pad's begins and ends of the spatial axes in ONNX order, when it pads nothing else and crops nothing.
    private func spatialPads(_ pad: Node, attributes: PadAttributes, rank: Int, index: GraphIndex) -> [Int]? {
        guard let given = attributes.pads ?? (pad.inputs.count > 1 ? index.constant(pad.inputs[1])?.integerValues : nil) else { return nil }
        var axes = Array(0..<rank)
        if pad.inputs.count > 3, !pad.inputs[3].isEmpty {
            guard let listed = index.constant(pad.inputs[3])?.integerValues else { return nil }
            axes = listed.map { $0 < 0 ? $0 + rank : $0 }
        }
        guard given.count == 2 * axes.count, Set(axes).count == axes.count, axes.allSatisfy({ (0..<rank).contains($0) }) else { return nil }
        var begins = [Int](repeating: 0, count: rank), ends = [Int](repeating: 0, count: rank)
        for (slot, axis) in axes.enumerated() {
            begins[axis] = given[slot]
            ends[axis] = given[slot + axes.count]
        }
        guard begins[0] == 0, ends[0] == 0, begins[1] == 0, ends[1] == 0, (begins + ends).allSatisfy({ $0 >= 0 }) else { return nil }
        return Array(begins[2...] + ends[2...])
    }

    /// The constant the Pad fills with: the attribute before opset 11, else the optional third input.
    private func padValue(_ pad: Node, attributes: PadAttributes, index: GraphIndex) -> Float? {
        guard pad.inputs.count > 2, !pad.inputs[2].isEmpty else { return attributes.value }
        guard let values = index.constant(pad.inputs[2])?.floatValues, values.count == 1 else { return nil }
        return values[0]
    }

    /// Adds `spatial` to the window's pads when the two agree (the type's comment), rewriting both the typed
    /// operator and the attributes export writes.
    private func fuse(_ spatial: [Int], value: Float, into node: inout Node, padInput: String, graph: Graph, index: GraphIndex) -> Bool {
        let pads: [Int]?
        switch node.op {
        case .conv(var attributes):
            guard value == 0, let window = combined(attributes.window, spatial) else { return false }
            attributes.window = window
            node.op = .conv(attributes)
            pads = window.pads
        case .fusedConv(var fused):
            // Filters a native file prepared for the old window (a fifth input) keep it.
            guard value == 0, node.inputs.count <= 4, let window = combined(fused.conv.window, spatial) else { return false }
            fused.conv.window = window
            node.op = .fusedConv(fused)
            pads = window.pads
        case .averagePool(var attributes):
            let ownPads = attributes.window.pads ?? []
            guard value == 0, attributes.countIncludePad || ownPads.allSatisfy({ $0 == 0 }),
                  let window = combined(attributes.window, spatial), poolReadsInput(window, ceilMode: attributes.window.ceilMode) else { return false }
            attributes.window = window
            attributes.countIncludePad = true
            node.op = .averagePool(attributes)
            pads = window.pads
            node.setAttribute(Attribute(name: "count_include_pad", value: .int(1)))
        case .maxPool(var attributes):
            guard node.outputs.count == 1 || node.outputs[1].isEmpty,
                  value == -.infinity || (value == 0 && isNonNegative(padInput, graph: graph, index: index)),
                  let window = combined(attributes.window, spatial), poolReadsInput(window, ceilMode: attributes.window.ceilMode) else { return false }
            attributes.window = window
            node.op = .maxPool(attributes)
            pads = window.pads
        default:
            return false
        }
        node.attributes.removeAll { $0.name == "auto_pad" }
        node.setAttribute(Attribute(name: "pads", value: .ints((pads ?? []).map { Int64($0) })))
        return true
    }

    /// The window with `spatial` added to its explicit pads; nil when it pads by `auto_pad` SAME (its pads
    /// depend on the input's size, which the Pad changes) or the counts differ.
    private func combined(_ window: WindowAttributes, _ spatial: [Int]) -> WindowAttributes? {
        guard window.autoPad == .notSet || window.autoPad == .valid else { return nil }
        let own = window.autoPad == .valid ? [Int](repeating: 0, count: spatial.count) : (window.pads ?? [Int](repeating: 0, count: spatial.count))
        guard own.count == spatial.count, window.kernelShape.map({ 2 * $0.count == spatial.count }) ?? true else { return nil }
        var result = window
        result.autoPad = .notSet
        result.pads = zip(own, spatial).map { $0 + $1 }
        return result
    }

    /// Whether every window of a pool holds at least one input cell: no rounding up, no dilation, and the
    /// pads on each side at most the window's size minus one (which ONNX Runtime also requires of pools).
    private func poolReadsInput(_ window: WindowAttributes, ceilMode: Bool) -> Bool {
        guard !ceilMode, let kernel = window.kernelShape, let pads = window.pads, pads.count == 2 * kernel.count,
              (window.dilations ?? []).allSatisfy({ $0 == 1 }) else { return false }
        return pads.indices.allSatisfy { pads[$0] <= kernel[$0 % kernel.count] - 1 }
    }

    /// Whether `value` is produced by an operator whose outputs are never negative.
    private func isNonNegative(_ value: String, graph: Graph, index: GraphIndex) -> Bool {
        guard let producer = index.producer[value] else { return false }
        let activation: FusedActivation
        switch graph.nodes[producer].op {
        case .relu: return true
        case .fusedConv(let fused): activation = fused.activation
        case .fusedGemm(let fused): activation = fused.activation
        case .channelAffine(let fused): activation = fused
        default: return false
        }
        switch activation {
        case .relu: return true
        case .clip(let low, _): return low >= 0
        default: return false
        }
    }
}
