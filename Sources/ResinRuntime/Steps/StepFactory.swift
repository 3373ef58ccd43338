import ResinIR

/// Turns a node with bound inputs and outputs into a step, checking what the kernels support.
enum StepFactory {
    /// Bytes of workspace a node's kernel needs for these shapes, on a pool of `threads` (the step's, as `make`
    /// gets it: a convolution may keep a copy of its columns per thread, `ConvolutionGeometry.columnCopies`).
    static func workspaceBytes(node: Node, inputs: [ValueShape?], outputs: [ValueShape], threads: Int = 1) throws -> Int {
        switch node.op {
        case .conv(let attributes):
            return try convolutionWorkspaceBytes(node: node, attributes: attributes, inputs: inputs, threads: threads)
        case .fusedConv(let attributes):
            let packed = attributes.prepared == .packed && node.inputs.count > 4 && !node.inputs[4].isEmpty
            return try convolutionWorkspaceBytes(node: node, attributes: attributes.conv, inputs: inputs, original: attributes.weight,
                                                 packed: packed, threads: threads)
        case .batchNormalization:
            guard let x = inputs[0] else { return 0 }
            return 2 * (x.shape.count > 1 ? x.shape[1] : 1) * 4
        default:
            return 0
        }
    }

    /// im2col columns for one group of one image.
    private static func convolutionWorkspaceBytes(
        node: Node, attributes: ConvAttributes, inputs: [ValueShape?], original: OriginalWeight? = nil, packed: Bool = false,
        threads: Int
    ) throws -> Int {
        guard inputs.count > 1, let x = inputs[0], let weight = inputs[1]?.shape ?? original?.shape else { return 0 }
        // Sized for whichever algorithm may run: Winograd needs constant weights, known only at binding.
        let direct = try convolutionGeometry(node: node, attributes: attributes, input: x.shape, weight: weight, winograd: .never,
                                             threads: threads)
        let winograd = try convolutionGeometry(node: node, attributes: attributes, input: x.shape, weight: weight,
                                               winograd: winogradChoice(node: node, weightIsConstant: true), threads: threads)
        // Filters a native file stores packed may read implicit columns, which need no im2col workspace.
        return max(packed ? direct.packedWorkspaceElements : direct.workspaceElements, winograd.workspaceElements) * 4
    }

    /// Filters stored already transformed (a native file's fifth FusedConv input) fix the choice made when
    /// the file was written; otherwise constant filters run as Winograd where it is faster.
    static func winogradChoice(node: Node, weightIsConstant: Bool) -> WinogradChoice {
        if node.inputs.count > 4, !node.inputs[4].isEmpty {
            if case .fusedConv(let fused) = node.op {
                if fused.prepared == .packed { return .never }
                if fused.prepared == .winograd4x4Packed { return .whenEligible4x4 }
                if fused.prepared == .winogradStride2Packed { return .whenEligibleStride2 }
            }
            return .whenEligible  // F(2x2) transforms, plain or packed
        }
        return weightIsConstant ? .whenFaster : .never
    }

    static func convolutionGeometry(
        node: Node, attributes: ConvAttributes, input: [Int], weight: [Int], winograd: WinogradChoice = .never, threads: Int = 1
    ) throws -> ConvolutionGeometry {
        let kernel = attributes.window.kernelShape ?? Array(weight.dropFirst(2))
        let window: ResolvedWindow
        do {
            window = try attributes.window.resolve(spatial: Array(input.dropFirst(2)), kernel: kernel)
        } catch {
            throw GraphError.shapeMismatch(node: node.displayName, opType: node.opType, reason: error.reason)
        }
        return ConvolutionGeometry(batch: input[0], inputChannels: input[1], outputChannels: weight[0],
                                   group: attributes.group, inputSpatial: Array(input.dropFirst(2)), window: window,
                                   winograd: winograd, threads: threads)
    }

    /// A convolution as an error about its prepared filters names it: input, filters and strides.
    static func describeConvolution(_ geometry: ConvolutionGeometry) -> String {
        let g = geometry
        return "input \(describe([g.batch, g.inputChannels] + g.inputSpatial)), filters "
            + "\(describe([g.outputChannels, g.channelsPerGroup] + g.window.kernel)), strides \(describe(g.window.strides))"
    }

    /// The algorithm a geometry runs, in an error's words.
    static func algorithm(_ geometry: ConvolutionGeometry) -> String {
        if !geometry.usesWinograd { return "a direct convolution" }
        if geometry.winogradStride == 2 { return "the stride-2 Winograd F(2x2, 3x3)" }
        return "Winograd F(\(geometry.winogradTile)x\(geometry.winogradTile), 3x3)"
    }

    /// Packed filters a native file provided (`PackedFilters`), used in place: every instruction set's kernel
    /// reads them.
    static func preparedPackedWeights(_ geometry: ConvolutionGeometry, _ prepared: BoundValue, node: Node) throws -> UnsafePointer<Float> {
        let expected = PackedFilters.floats(filters: geometry.outputChannels, inner: geometry.columnRows)
        guard geometry.group == 1, !geometry.usesWinograd, prepared.dataType == .float, prepared.elementCount == expected else {
            throw RuntimeError.unsupportedAttribute(
                node: node.displayName, opType: node.opType,
                reason: "its packed filters \(describe(prepared.shape)) do not fit the convolution (\(describeConvolution(geometry)); "
                    + "\(expected) floats for \(geometry.outputChannels) filters of \(geometry.columnRows))")
        }
        return UnsafePointer(prepared.floats)
    }

    /// Filters packed once when the step is made, for a convolution with few columns.
    static func packedWeights(_ geometry: ConvolutionGeometry, _ weight: BoundValue) -> TensorStorage? {
        guard weight.isConstant, PackedFilters.pay(for: geometry) else { return nil }
        let packed = PackedFilters.pack(UnsafePointer(weight.floats), filters: geometry.outputChannels, inner: geometry.columnRows)
        return packed.withUnsafeBytes { TensorStorage(copying: $0) }
    }

    /// The Winograd transforms a convolution step runs on, for a convolution that runs that way: made once
    /// when the step is (packed for Resin's kernel where that pays), or the ones a native file stores, used in
    /// place whatever their layout (every instruction set's kernel reads the packed one).
    struct WinogradFilters {
        var plain: TensorStorage?
        var preparedPlain: UnsafePointer<Float>?
        var packed: TensorStorage?
        var preparedPacked: UnsafePointer<Float>?
    }

    static func winogradFilters(
        _ geometry: ConvolutionGeometry, weight: BoundValue, prepared: BoundValue?, layout: PreparedFilters, node: Node
    ) throws -> WinogradFilters {
        let filters = geometry.outputChannels, channels = geometry.inputChannels
        guard let prepared else {
            guard geometry.usesWinograd else { return WinogradFilters() }
            if geometry.winogradStride == 2 {
                let packed = Kernels.winogradStride2PackedWeights(UnsafePointer(weight.floats), filters: filters, channels: channels)
                return WinogradFilters(packed: packed.withUnsafeBytes { TensorStorage(copying: $0) })
            }
            if geometry.winogradTile == 4 {
                let packed = Kernels.winograd4x4PackedWeights(UnsafePointer(weight.floats), filters: filters, channels: channels)
                return WinogradFilters(packed: packed.withUnsafeBytes { TensorStorage(copying: $0) })
            }
            let transforms = Kernels.winogradWeights(UnsafePointer(weight.floats), filters: filters, channels: channels)
            if PackedFilters.pay(forWinograd: geometry) {
                let packed = transforms.withUnsafeBufferPointer { PackedFilters.packWinograd($0.baseAddress!, filters: filters, channels: channels) }
                return WinogradFilters(packed: packed.withUnsafeBytes { TensorStorage(copying: $0) })
            }
            return WinogradFilters(plain: transforms.withUnsafeBytes { TensorStorage(copying: $0) })
        }
        let packed = layout == .winogradPacked || layout == .winograd4x4Packed || layout == .winogradStride2Packed
        let expected = geometry.winogradFilterPositions
            * (packed ? PackedFilters.floats(filters: filters, inner: channels) : filters * channels)
        guard geometry.usesWinograd, geometry.winogradTile == (layout == .winograd4x4Packed ? 4 : 2),
              geometry.winogradStride == (layout == .winogradStride2Packed ? 2 : 1), prepared.dataType == .float,
              prepared.elementCount == expected else {
            throw RuntimeError.unsupportedAttribute(
                node: node.displayName, opType: node.opType,
                reason: "its \(layout.rawValue) filters \(describe(prepared.shape)) do not fit the convolution (\(describeConvolution(geometry))),"
                    + " which with these shapes runs as \(algorithm(geometry))\(geometry.usesWinograd ? " on \(expected) floats" : "")")
        }
        if !packed { return WinogradFilters(preparedPlain: UnsafePointer(prepared.floats)) }
        return WinogradFilters(preparedPacked: UnsafePointer(prepared.floats))
    }

    // swiftlint:disable:next cyclomatic_complexity function_body_length
    static func make(
        node: Node, inputs: [BoundValue?], outputs: [BoundValue], workspace: UnsafeMutableRawPointer?, opset: Int, pool: WorkerPool,
        filters: PreparedFilterCache? = nil
    ) throws -> Step {
        func input(_ index: Int) -> BoundValue? { index < inputs.count ? inputs[index] : nil }
        func requireFloat(_ values: BoundValue?...) throws {
            for case let value? in values where value.dataType != .float {
                throw RuntimeError.unsupportedType(node: node.displayName, opType: node.opType, dataType: value.dataType)
            }
        }
        func requireConstant(_ index: Int, _ role: String) throws -> BoundValue? {
            guard let value = input(index) else { return nil }
            guard value.isConstant else {
                throw RuntimeError.nonConstantInput(node: node.displayName, opType: node.opType, input: node.inputs[index], role: role)
            }
            return value
        }
        func integers(_ value: BoundValue) -> [Int] {
            let count = value.elementCount
            switch value.dataType {
            case .int32: return (0..<count).map { Int(value.pointer.load(fromByteOffset: $0 * 4, as: Int32.self)) }
            default: return (0..<count).map { Int(value.pointer.load(fromByteOffset: $0 * 8, as: Int64.self)) }
            }
        }
        func elementSize(_ value: BoundValue) throws -> Int {
            let bits = value.dataType.bitWidth
            guard bits >= 8, bits % 8 == 0 else {
                throw RuntimeError.unsupportedType(node: node.displayName, opType: node.opType, dataType: value.dataType)
            }
            return bits / 8
        }
        func copy(from source: BoundValue) -> Step {
            .copy(CopyStep(source: UnsafeRawPointer(source.pointer), destination: outputs[0].pointer,
                           byteCount: source.dataType.byteCount(elements: source.elementCount) ?? 0))
        }
        /// Gemm, then the fused activation over its output in place.
        func gemm(_ attributes: GemmAttributes, activation: FusedActivation) throws -> Step {
            guard let a = input(0), let b = input(1), let y = outputs.first else {
                throw GraphError.arity(node: node.displayName, opType: node.opType, reason: "an input it needs is missing")
            }
            try requireFloat(a, b, input(2), y)
            let geometry = GemmGeometry(
                m: y.shape[0], n: y.shape[1], k: attributes.transA ? a.shape[0] : a.shape[1], transA: attributes.transA,
                transB: attributes.transB, alpha: attributes.alpha, beta: attributes.beta, biasShape: input(2)?.shape)
            return .gemm(GemmStep(a: UnsafePointer(a.floats), b: UnsafePointer(b.floats), c: input(2).map { UnsafePointer($0.floats) },
                                  output: y.floats, geometry: geometry, pool: pool,
                                  activation: ActivationStep(inPlace: activation, over: y.floats, count: y.elementCount, pool: pool)))
        }
        let x = input(0)
        let y = outputs.first

        switch node.op {
        case .conv(let attributes):
            guard let x, let w = input(1), let y else { break }
            try requireFloat(x, w, input(2))
            let geometry = try convolutionGeometry(node: node, attributes: attributes, input: x.shape, weight: w.shape,
                                                   winograd: winogradChoice(node: node, weightIsConstant: w.isConstant),
                                                   threads: pool.threads)
            let transforms = try PreparedFilterCache.winograd(filters, node, w) {
                try winogradFilters(geometry, weight: w, prepared: nil, layout: .winograd, node: node)
            }
            return .convolution(ConvolutionStep(
                input: UnsafePointer(x.floats), weight: UnsafePointer(w.floats), output: y.floats, geometry: geometry,
                epilogue: ConvolutionEpilogue(bias: input(2).map { UnsafePointer($0.floats) }),
                workspace: workspace?.assumingMemoryBound(to: Float.self), pool: pool,
                transformedWeight: transforms.plain, packedTransforms: transforms.packed,
                packedStorage: PreparedFilterCache.packed(filters, node, w) { packedWeights(geometry, w) }))

        case .fusedConv(let attributes):
            let skip = input(3)
            let prepared = input(4)
            // A native file may store the filters only packed: the original's shape is then an attribute,
            // and the packed copy stands in as W (the packed kernel is the only one that reads it).
            let onlyPacked = input(1) == nil && attributes.prepared == .packed
            guard let x, let w = input(1) ?? (onlyPacked ? prepared : nil), let y,
                  let weightShape = onlyPacked ? attributes.weight?.shape : w.shape else { break }
            try requireFloat(x, w, input(2), skip, y)
            let geometry = try convolutionGeometry(node: node, attributes: attributes.conv, input: x.shape, weight: weightShape,
                                                   winograd: winogradChoice(node: node, weightIsConstant: w.isConstant),
                                                   threads: pool.threads)
            if onlyPacked, geometry.group != 1 || weightShape.count != x.shape.count
                || elementCount(of: Array(weightShape.dropFirst())) != geometry.columnRows {
                throw RuntimeError.unsupportedAttribute(
                    node: node.displayName, opType: node.opType,
                    reason: "filters stored only packed need an ungrouped convolution whose recorded W \(describe(weightShape)) has X's rank and \(geometry.columnRows) weights per filter, found group \(geometry.group)")
            }
            let transforms = try PreparedFilterCache.winograd(filters, node, w) {
                try winogradFilters(geometry, weight: w, prepared: attributes.prepared == .packed ? nil : prepared,
                                    layout: attributes.prepared, node: node)
            }
            let convolved = [geometry.batch, geometry.outputChannels] + geometry.outputSpatial
            if let skip, skip.shape != convolved || y.shape != convolved {
                throw RuntimeError.unsupportedAttribute(
                    node: node.displayName, opType: node.opType,
                    reason: "the residual \(describe(skip.shape)) must have the convolution's output shape \(describe(convolved))")
            }
            let epilogue = ConvolutionEpilogue(bias: input(2).map { UnsafePointer($0.floats) }, skip: skip.map { UnsafePointer($0.floats) },
                                               activation: attributes.activation)
            return .convolution(ConvolutionStep(
                input: UnsafePointer(x.floats), weight: UnsafePointer(w.floats), output: y.floats, geometry: geometry,
                epilogue: epilogue, workspace: workspace?.assumingMemoryBound(to: Float.self), pool: pool,
                transformedWeight: transforms.plain, preparedWeight: transforms.preparedPlain,
                packedTransforms: transforms.packed, preparedPackedTransforms: transforms.preparedPacked,
                packedStorage: prepared == nil ? PreparedFilterCache.packed(filters, node, w) { packedWeights(geometry, w) } : nil,
                preparedPacked: try prepared.flatMap { attributes.prepared == .packed ? try preparedPackedWeights(geometry, $0, node: node) : nil }))

        case .batchNormalization(let attributes):
            guard let x, let y, let scale = input(1), let bias = input(2), let mean = input(3), let variance = input(4) else { break }
            try requireFloat(x, scale, bias, mean, variance)
            if attributes.trainingMode || outputs.count > 1 {
                throw RuntimeError.unsupportedAttribute(node: node.displayName, opType: node.opType,
                                                        reason: "training mode (running statistics outputs) is not supported")
            }
            if !attributes.spatial, x.shape.count > 2, scale.elementCount != (x.shape.count > 1 ? x.shape[1] : 1) {
                throw RuntimeError.unsupportedAttribute(node: node.displayName, opType: node.opType,
                                                        reason: "spatial=0 (per-element statistics) is not supported")
            }
            let folded = workspace!.assumingMemoryBound(to: Float.self)
            let channels = x.shape.count > 1 ? x.shape[1] : 1
            return .batchNormalization(BatchNormalizationStep(
                scale: UnsafePointer(scale.floats), bias: UnsafePointer(bias.floats),
                mean: UnsafePointer(mean.floats), variance: UnsafePointer(variance.floats), epsilon: attributes.epsilon,
                workspace: folded, affine: ChannelAffineStep(input: UnsafePointer(x.floats), shape: x.shape, scale: UnsafePointer(folded),
                                          shift: UnsafePointer(folded + channels), output: y.floats, pool: pool)))

        case .channelAffine(let activation):
            guard let x, let scale = input(1), let shift = input(2), let y else { break }
            try requireFloat(x, scale, shift)
            guard x.shape.count >= 2, scale.elementCount == x.shape[1], shift.elementCount == x.shape[1] else {
                throw GraphError.shapeMismatch(
                    node: node.displayName, opType: node.opType,
                    reason: "X \(describe(x.shape)) needs a scale and shift of one value per channel, found \(describe(scale.shape)) and \(describe(shift.shape))")
            }
            return .channelAffine(ChannelAffineStep(input: UnsafePointer(x.floats), shape: x.shape, scale: UnsafePointer(scale.floats),
                                                    shift: UnsafePointer(shift.floats), output: y.floats, pool: pool, activation: activation))

        case .relu, .leakyRelu, .clip:
            guard let x, let y else { break }
            try requireFloat(x)
            let kind: ActivationStep.Kind
            switch node.op {
            case .leakyRelu(let attributes): kind = .leakyRelu(alpha: attributes.alpha)
            case .clip(let attributes):
                try requireFloat(input(1), input(2))
                kind = .clip(min: attributes.min ?? -.infinity, max: attributes.max ?? .infinity,
                             minInput: input(1).map { UnsafePointer($0.floats) }, maxInput: input(2).map { UnsafePointer($0.floats) })
            default: kind = .relu
            }
            return .activation(ActivationStep(kind: kind, input: UnsafePointer(x.floats), output: y.floats, count: x.elementCount, pool: pool))

        case .maxPool(let attributes), .averagePool(let attributes):
            guard let x, let y else { break }
            try requireFloat(x)
            let window: ResolvedWindow
            do {
                window = try attributes.window.resolve(spatial: Array(x.shape.dropFirst(2)), kernel: attributes.window.kernelShape ?? [])
            } catch {
                throw GraphError.shapeMismatch(node: node.displayName, opType: node.opType, reason: error.reason)
            }
            let kind: PoolStep.Kind
            if case .maxPool = node.op {
                let indices = outputs.count > 1 ? outputs[1].pointer.assumingMemoryBound(to: Int64.self) : nil
                kind = .max(indices: indices, storageOrder: attributes.storageOrder)
            } else {
                kind = .average(countIncludePad: attributes.countIncludePad)
            }
            return .pool(PoolStep(kind: kind, input: UnsafePointer(x.floats), shape: x.shape, window: window, output: y.floats, pool: pool))

        case .globalAveragePool, .globalMaxPool:
            guard let x, let y else { break }
            try requireFloat(x)
            return .globalPool(GlobalPoolStep(isMax: node.op == .globalMaxPool, input: UnsafePointer(x.floats), shape: x.shape, output: y.floats))

        case .lrn(let attributes):
            guard let x, let y else { break }
            try requireFloat(x)
            return .lrn(LRNStep(input: UnsafePointer(x.floats), shape: x.shape, attributes: attributes, output: y.floats))

        case .binary(let operation):
            guard let x, let b = input(1), let y else { break }
            let arithmetic: Set<DataType> = [.float, .int64, .int32, .int16, .int8, .uint64, .uint32, .uint16, .uint8]
            guard x.dataType == b.dataType, arithmetic.contains(x.dataType) else {
                throw RuntimeError.unsupportedType(node: node.displayName, opType: node.opType, dataType: x.dataType == .float ? b.dataType : x.dataType)
            }
            return .binary(BinaryStep(operation: operation, dataType: x.dataType, a: UnsafeRawPointer(x.pointer), aShape: x.shape,
                                      b: UnsafeRawPointer(b.pointer), bShape: b.shape, output: y.pointer, outputShape: y.shape, pool: pool,
                                      sameShapeCount: x.dataType == .float && x.shape == y.shape && b.shape == y.shape ? y.elementCount : 0))

        case .sum:
            guard let y else { break }
            let present = inputs.compactMap { $0 }
            if present.count == 1, present[0].shape == y.shape { return copy(from: present[0]) }
            try requireFloat(present.first)
            for value in present { try requireFloat(value) }
            return .sum(SumStep(inputs: present.map { UnsafePointer($0.floats) }, shapes: present.map(\.shape), output: y.floats, outputShape: y.shape))

        case .gemm(let attributes): return try gemm(attributes, activation: .none)
        case .fusedGemm(let attributes): return try gemm(attributes.gemm, activation: attributes.activation)

        case .matMul:
            guard let a = input(0), let b = input(1), let y else { break }
            try requireFloat(a, b)
            return .matMul(MatMulStep(a: UnsafePointer(a.floats), b: UnsafePointer(b.floats), output: y.floats,
                                      geometry: MatMulGeometry(aShape: a.shape, bShape: b.shape), pool: pool))

        case .identity, .reshape, .flatten, .squeeze, .unsqueeze, .dropout:
            guard let x, y != nil else { break }
            if case .dropout = node.op, outputs.count > 1 {
                // Inference Dropout: the data passes through; the mask is all true.
                return .copy(CopyStep(source: UnsafeRawPointer(x.pointer), destination: outputs[0].pointer,
                                      byteCount: x.dataType.byteCount(elements: x.elementCount) ?? 0))
            }
            return copy(from: x)

        case .transpose(let attributes):
            guard let x, let y else { break }
            let permutation: [Int]
            do { permutation = try attributes.permutation(rank: x.shape.count) } catch {
                throw GraphError.shapeMismatch(node: node.displayName, opType: node.opType, reason: error.reason)
            }
            return .transpose(TransposeStep(input: UnsafeRawPointer(x.pointer), shape: x.shape, permutation: permutation,
                                            elementSize: try elementSize(x), output: y.pointer))

        case .concat(let attributes):
            guard let y else { break }
            let present = inputs.compactMap { $0 }
            let axis = attributes.axis < 0 ? attributes.axis + y.shape.count : attributes.axis
            return .concat(ConcatStep(inputs: present.map { UnsafeRawPointer($0.pointer) }, shapes: present.map(\.shape), axis: axis,
                                      elementSize: try elementSize(y), output: y.pointer))

        case .softmax(let attributes):
            guard let x, let y else { break }
            try requireFloat(x)
            let rank = x.shape.count
            let axis = attributes.axis < 0 ? attributes.axis + rank : attributes.axis
            let outer = x.shape[..<axis].reduce(1, *)
            let step: SoftmaxStep
            if attributes.coercesTo2D {
                step = SoftmaxStep(input: UnsafePointer(x.floats), output: y.floats, outer: outer,
                                   axisLength: x.shape[axis...].reduce(1, *), inner: 1)
            } else {
                step = SoftmaxStep(input: UnsafePointer(x.floats), output: y.floats, outer: outer,
                                   axisLength: x.shape[axis], inner: x.shape[(axis + 1)...].reduce(1, *))
            }
            return .softmax(step)

        case .constant(let attributes):
            guard let y else { break }
            let bytes = attributes.value.storage.bytes
            return .fill(FillStep(pattern: Array(bytes), destination: y.pointer, byteCount: bytes.count))

        case .constantOfShape(let attributes):
            guard let y else { break }
            return .fill(FillStep(pattern: Array(attributes.value.storage.bytes), destination: y.pointer,
                                  byteCount: y.dataType.byteCount(elements: y.elementCount) ?? 0))

        case .shape(let attributes):
            guard let x, let y else { break }
            let dims = x.shape[attributes.range(rank: x.shape.count)].map { Int64($0) }
            let pattern = dims.withUnsafeBytes { Array($0) }
            return .fill(FillStep(pattern: pattern, destination: y.pointer, byteCount: pattern.count))

        case .gather(let attributes):
            guard let x, let indices = input(1), let y else { break }
            guard indices.dataType == .int64 || indices.dataType == .int32 else {
                throw RuntimeError.unsupportedType(node: node.displayName, opType: node.opType, dataType: indices.dataType)
            }
            let axis = attributes.axis < 0 ? attributes.axis + x.shape.count : attributes.axis
            return .gather(GatherStep(data: UnsafeRawPointer(x.pointer), shape: x.shape, indices: UnsafeRawPointer(indices.pointer),
                                      indicesAreInt32: indices.dataType == .int32, indexCount: indices.elementCount, axis: axis,
                                      elementSize: try elementSize(x), output: y.pointer))

        case .pad(let attributes):
            guard let x, let y else { break }
            let rank = x.shape.count
            var pads = attributes.pads ?? []
            if attributes.pads == nil, let given = try requireConstant(1, "pads") {
                pads = integers(given)
                if let axesValue = try requireConstant(3, "axes") {
                    let axes = integers(axesValue).map { $0 < 0 ? $0 + rank : $0 }
                    var full = Array(repeating: 0, count: 2 * rank)
                    for (position, axis) in axes.enumerated() {
                        full[axis] = pads[position]
                        full[axis + rank] = pads[position + axes.count]
                    }
                    pads = full
                }
            }
            let element = try elementSize(x)
            if let problem = Kernels.padProblem(shape: x.shape, pads: pads, mode: attributes.mode) {
                throw RuntimeError.unsupportedAttribute(node: node.displayName, opType: node.opType, reason: problem.reason)
            }
            let fill: PadStep.Fill
            if let value = input(2) {
                fill = .input(UnsafeRawPointer(value.pointer))
            } else if attributes.pads != nil, x.dataType == .float {
                // Opsets before 11 carry the fill value as a float attribute.
                fill = .inline(UInt64(attributes.value.bitPattern))
            } else {
                fill = .inline(0)
            }
            return .pad(PadStep(input: UnsafeRawPointer(x.pointer), shape: x.shape, pads: pads, mode: attributes.mode,
                                fill: fill, elementSize: element, output: y.pointer))

        case .reduceMean(let attributes):
            guard let x, let y else { break }
            try requireFloat(x)
            var axes = attributes.axes ?? []
            if attributes.axes == nil, let given = try requireConstant(1, "axes") { axes = integers(given) }
            if axes.isEmpty {
                if attributes.noopWithEmptyAxes { return copy(from: x) }
                axes = Array(0..<x.shape.count)
            }
            let normalized = Array(Set(axes.map { $0 < 0 ? $0 + x.shape.count : $0 })).sorted()
            return .reduceMean(ReduceMeanStep(input: UnsafePointer(x.floats), shape: x.shape, axes: normalized, output: y.floats))

        case .unsupported(let op):
            throw RuntimeError.unsupportedOperators([.init(opType: op.opType, domain: op.domain, nodes: [node.displayName])])
        }
        throw GraphError.arity(node: node.displayName, opType: node.opType, reason: "an input it needs is missing")
    }
}

/// Filters the steps of one session pack or transform when they are made, kept by the node (its first output's
/// name) that reads them, so that image lanes (`ImageLanes`), which make the same steps once per lane over the same
/// constants, prepare each filter once and share it.
final class PreparedFilterCache {
    private var packed: [String: TensorStorage?] = [:]
    private var winograd: [String: StepFactory.WinogradFilters] = [:]

    /// `make()`'s packed filters for `node`'s constant `weight`, made once per cache (every time without one).
    static func packed(_ cache: PreparedFilterCache?, _ node: Node, _ weight: BoundValue, _ make: () -> TensorStorage?) -> TensorStorage? {
        guard let cache, weight.isConstant, let key = node.outputs.first else { return make() }
        if let known = cache.packed[key] { return known }
        let made = make()
        cache.packed[key] = .some(made)
        return made
    }

    /// `make()`'s Winograd filters for `node`'s constant `weight`, made once per cache (every time without one).
    static func winograd(
        _ cache: PreparedFilterCache?, _ node: Node, _ weight: BoundValue, _ make: () throws -> StepFactory.WinogradFilters
    ) rethrows -> StepFactory.WinogradFilters {
        guard let cache, weight.isConstant, let key = node.outputs.first else { return try make() }
        if let known = cache.winograd[key] { return known }
        let made = try make()
        cache.winograd[key] = made
        return made
    }
}
