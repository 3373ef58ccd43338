import ResinIR

/// Whether and how a session runs its batch as image lanes: each of its threads runs whole images, one after
/// another, through its own copy of the model compiled for one image on one thread, instead of every thread
/// sharing each layer of the whole batch.
///
/// A layer at batch 8 reads and writes every image's activations before the next layer starts: ResNet-50's
/// 56x56 stages move 25 MB a layer, past the caches, and its downsampling and 14x14 products ran 1.1 to 1.4
/// times slower per image than at batch 1. A lane keeps one image's activations (its arena of 8.3 MiB) near
/// its core, needs no barrier between the threads inside a layer, and the lanes' arenas together are smaller
/// than the batch's. Two ResNet-50 inferences on one thread each, side by side, took 30.2 to 31.0 ms against
/// 30.0 alone (AMD EPYC Zen 5, 2 cores): 8 images in about 122 ms against 130 for the layer-by-layer batch.
///
/// Lanes are only for a batch the threads divide (an uneven share would leave a thread idle through a whole
/// image) and for graphs whose images never meet (`separable`); anything else runs layer by layer.
struct ImageLanes {
    /// Lanes, one per thread.
    let count: Int
    /// Images in the batch; lane `l` runs images `l`, `l + count`, ...
    let batch: Int
    /// The compiler of one image, whose values are one image of the batch's.
    let image: GraphCompiler
    /// The memory of one lane.
    let laneMemory: SessionMemory
    /// The batch tail: steps from this index on run once on the whole batch after the lanes (`tailStart`);
    /// the step count when there is none.
    let tailStart: Int
    /// Where each of the batch's blocks the tail uses sits in the tail's region of the arena, after the lanes'
    /// parts, and the region's bytes.
    let tailOffsets: [Int: Int]
    let tailBytes: Int

    /// Bytes of one lane's part of the arena.
    var laneBytes: Int { MemoryPlanner.aligned(laneMemory.memoryPlan.arenaBytes) }

    /// The lanes' memory: an arena of the batch's inputs and outputs (`ioBytes`), every lane's part and the
    /// batch tail's region, the folded constants and the prepared filters (both made once and shared by the
    /// lanes). Its plan is one lane's with the arena, lower bound and no-reuse sizes of all of them.
    func memory(ioBytes: Int) -> SessionMemory {
        func total(_ bytes: Int) -> Int {
            let (parts, overflowA) = MemoryPlanner.aligned(bytes).multipliedReportingOverflow(by: count)
            let (sum, overflowB) = parts.addingReportingOverflow(ioBytes)
            let (withTail, overflowC) = sum.addingReportingOverflow(tailBytes)
            return overflowA || overflowB || overflowC ? Int.max : withTail
        }
        var memory = laneMemory
        let plan = laneMemory.memoryPlan
        memory.memoryPlan = MemoryPlan(offsets: plan.offsets, arenaBytes: total(plan.arenaBytes),
                                       lowerBoundBytes: total(plan.lowerBoundBytes), noReuseBytes: total(plan.noReuseBytes))
        return memory
    }

    /// The options that compile one image on one thread: batch 1, and given input shapes with a leading 1.
    static func imageOptions(_ options: SessionOptions) -> SessionOptions {
        var single = options
        single.batch = 1
        single.threads = 1
        single.inputShapes = options.inputShapes.mapValues { $0.isEmpty ? $0 : [1] + $0.dropFirst() }
        return single
    }

    /// The lanes a session of `batch` (the compiled whole batch) runs on, or nil when it runs layer by layer.
    static func plan(model: Model, options: SessionOptions, batch: GraphCompiler) -> ImageLanes? {
        guard options.imageLanes, options.threads > 1 else { return nil }
        guard let first = batch.inputNames.first, let images = batch.values[first]?.shape.first,
              images > 1, images % options.threads == 0 else { return nil }
        // A graph that does not compile for one image (a fixed batch, a shape naming the batch) keeps the batch.
        guard let (image, memory) = try? Session.compileAndPlan(model: model, options: imageOptions(options)),
              separable(batch: batch, image: image, images: images) else { return nil }
        let tail = tailStart(batch)
        var offsets: [Int: Int] = [:]
        var bytes = 0
        for block in tailBlocks(batch, from: tail) {
            offsets[block] = bytes
            bytes += MemoryPlanner.aligned(batch.blocks[block].size)
        }
        return ImageLanes(count: options.threads, batch: images, image: image, laneMemory: memory, tailStart: tail,
                          tailOffsets: offsets, tailBytes: bytes)
    }

    /// Where the batch tail starts: the steps after the last one that is not a product with constant weights
    /// or a cheap operator on its result (reshapes, element-wise, softmax), when that suffix has a product.
    /// A classifier's weights are then read once for the batch instead of once per image: ResNet-50's (8 MB)
    /// took each lane 0.22 to 0.24 ms an image, and the batch 0.46 ms for all 8 images on one thread (the row
    /// product's split came later), 0.37 to 0.43 on two. Lanes keep everything before it; a tail that would read a
    /// graph input directly is not taken.
    static func tailStart(_ batch: GraphCompiler) -> Int {
        var start = batch.pending.count
        var products = false
        scan: while start > 0 {
            switch batch.pending[start - 1].node.op {
            case .gemm, .fusedGemm, .matMul: products = true
            case .flatten, .reshape, .squeeze, .unsqueeze, .identity, .dropout, .relu, .leakyRelu, .clip, .binary, .softmax: break
            default: break scan
            }
            start -= 1
        }
        guard products else { return batch.pending.count }
        let inputs = Set(batch.inputNames)
        for step in batch.pending[start...] {
            for name in step.node.inputs where inputs.contains(name) { return batch.pending.count }
        }
        return start
    }

    /// The batch's blocks the steps from `start` read, write or work in.
    static func tailBlocks(_ batch: GraphCompiler, from start: Int) -> [Int] {
        var blocks: [Int] = []
        for step in batch.pending[start...] {
            for case let value? in step.inputs + step.outputs {
                if case .block(let block) = value.location, !blocks.contains(block) { blocks.append(block) }
            }
            if let workspace = step.workspaceBlock, !blocks.contains(workspace) { blocks.append(workspace) }
        }
        return blocks
    }

    /// Whether every image of the batch is computed from that image alone, so that running them one by one
    /// gives the batch's results: both compilations run the same steps; every value that is not a constant
    /// (inputs, outputs and every step's operands) is, at the batch, the image's shape with its leading 1
    /// multiplied by the batch, its images stacked along the first axis; and every step is an operator that
    /// never combines values of different positions along that axis, given such operands.
    static func separable(batch: GraphCompiler, image: GraphCompiler, images: Int) -> Bool {
        guard batch.pending.count == image.pending.count, batch.inputNames == image.inputNames,
              batch.graph.outputs.map(\.name) == image.graph.outputs.map(\.name) else { return false }
        func stacked(_ name: String, constantAllowed: Bool = false) -> Bool {
            guard let whole = batch.values[name], let one = image.values[name] else { return false }
            if whole.isConstant && one.isConstant { return constantAllowed }
            guard !whole.isConstant, !one.isConstant, one.shape.first == 1, whole.shape.first == images,
                  whole.shape.dropFirst() == one.shape.dropFirst() else { return false }
            return true
        }
        // Inputs and outputs are copied image by image: whole bytes per element.
        func wholeBytes(_ name: String) -> Bool { (batch.values[name]?.dataType.bitWidth ?? 0) % 8 == 0 }
        let ends = batch.inputNames + batch.graph.outputs.map(\.name)
        guard ends.allSatisfy({ stacked($0) && wholeBytes($0) }) else { return false }
        for (whole, one) in zip(batch.pending, image.pending) {
            guard whole.node.name == one.node.name, whole.node.outputs == one.node.outputs,
                  whole.node.inputs == one.node.inputs, keepsImagesApart(whole) else { return false }
            for name in whole.node.inputs + whole.node.outputs where !name.isEmpty {
                guard stacked(name, constantAllowed: true) else { return false }
            }
        }
        return true
    }

    /// Whether `step`, its operands stacked by image (`separable`), computes each image from that image's
    /// operands and constants alone.
    static func keepsImagesApart(_ step: GraphCompiler.PendingStep) -> Bool {
        let constant = { (index: Int) in index < step.inputs.count && (step.inputs[index]?.isConstant ?? false) }
        let rank = step.inputs.first??.shape.count ?? 0
        switch step.node.op {
        // Per element, per image's window or per image's channels.
        case .conv, .fusedConv, .batchNormalization, .channelAffine, .relu, .leakyRelu, .clip, .maxPool, .averagePool,
             .globalAveragePool, .globalMaxPool, .lrn, .identity, .dropout, .binary, .sum, .pad:
            return true
        // Stacked shapes before and after: a row-major reshape of [N, ...] to [N, ...] moves each image's
        // elements within its own block.
        case .flatten, .reshape, .squeeze, .unsqueeze, .reduceMean:
            return true
        case .gemm(let attributes):
            return !attributes.transA && constant(1)
        case .fusedGemm(let attributes):
            return !attributes.gemm.transA && constant(1)
        case .matMul:
            return rank >= 2 && constant(1) && (step.inputs[1]?.shape.count ?? 0) == 2
        case .softmax(let attributes):
            return rank > 0 && (attributes.axis + rank) % rank != 0
        case .transpose(let attributes):
            return attributes.permutation?.first == 0
        case .concat(let attributes):
            return rank > 0 && (attributes.axis + rank) % rank != 0
        case .constant, .constantOfShape, .shape, .gather, .unsupported:
            return false
        }
    }
}

/// The steps after the lanes that run once on the whole batch (`ImageLanes.tailStart`): the batch's own
/// steps, bound to the tail's region of the arena, fed by each lane's copy of the values they read from it.
struct BatchTail {
    /// A value the tail reads from the lanes: where each lane has it, where the tail reads it (image after
    /// image) and its bytes per image.
    struct Crossing {
        var lanes: [UnsafeRawPointer]
        var tail: UnsafeMutableRawPointer
        var bytes: Int
    }

    /// The tail's steps; the first is the session's step `start`.
    let steps: [Step]
    let start: Int
    let crossings: [Crossing]
    /// For each graph output, where the tail leaves it, or nil when the lanes make it.
    let outputs: [UnsafeRawPointer?]

    /// The tail of `batch` (the compiled whole batch) run after `lanes`. The tail's region of the arena starts
    /// at `region`; lane `l`'s part at `laneBase(l)`, laid out by `laneOffsets` (one lane's plan). Constants the
    /// steps read are appended to `constants`.
    init(batch: GraphCompiler, lanes: ImageLanes, region: UnsafeMutableRawPointer,
         laneBase: (Int) -> UnsafeMutableRawPointer, laneOffsets: [Int], pool: WorkerPool,
         constants: inout [TensorStorage]) throws {
        func bind(_ value: CompiledValue) -> BoundValue {
            switch value.location {
            case .constant(let storage):
                constants.append(storage)
                return BoundValue(pointer: NodeEvaluator.address(of: storage), dataType: value.dataType, shape: value.shape, isConstant: true)
            case .block(let block):
                return BoundValue(pointer: region + lanes.tailOffsets[block]!, dataType: value.dataType, shape: value.shape)
            }
        }
        let laneMade = Set(batch.pending[..<lanes.tailStart].flatMap(\.node.outputs))
        var written = Set<Int>()
        var crossings: [Crossing] = []
        var steps: [Step] = []
        for pending in batch.pending[lanes.tailStart...] {
            // A block the tail reads before writing it holds a value the lanes made: each lane copies its
            // images' slices of it in.
            for case let value? in pending.inputs {
                guard case .block(let block) = value.location, !written.contains(block) else { continue }
                let tail = region + lanes.tailOffsets[block]!
                if crossings.contains(where: { $0.tail == tail }) { continue }
                guard let name = batch.blockValues[block].first(where: laneMade.contains),
                      case .block(let laneBlock)? = lanes.image.values[name]?.location, let whole = batch.values[name],
                      let bytes = whole.dataType.byteCount(elements: whole.shape.reduce(1, *)) else {
                    throw RuntimeError.unsupportedAttribute(node: pending.node.displayName, opType: pending.node.opType,
                                                            reason: "the batch tail reads a value the image lanes do not make")
                }
                crossings.append(Crossing(lanes: (0..<lanes.count).map { UnsafeRawPointer(laneBase($0) + laneOffsets[laneBlock]) },
                                          tail: tail, bytes: bytes / lanes.batch))
            }
            for case .block(let block) in pending.outputs.map(\.location) { written.insert(block) }
            steps.append(try StepFactory.make(
                node: pending.node, inputs: pending.inputs.map { $0.map(bind) }, outputs: pending.outputs.map(bind),
                workspace: pending.workspaceBlock.map { region + lanes.tailOffsets[$0]! }, opset: batch.opset, pool: pool))
        }
        self.steps = steps
        start = lanes.tailStart
        self.crossings = crossings
        outputs = batch.graph.outputs.map { output in
            guard case .block(let block)? = batch.values[output.name]?.location, written.contains(block) else { return nil }
            return UnsafeRawPointer(region + lanes.tailOffsets[block]!)
        }
    }
}
