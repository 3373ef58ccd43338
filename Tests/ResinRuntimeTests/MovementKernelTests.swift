import ResinIR
import Testing
import TestSupport
@testable import ResinRuntime

@Suite struct MovementKernelTests {
    static let elementSizes = [1, 2, 3, 4, 8]

    /// Distinct bytes, so any misplaced element shows.
    static func bytes(_ count: Int, seed: Int) -> [UInt8] {
        var random = SplitMix64(seed: seed)
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
    }

    @Test(arguments: 0..<40)
    func transposeMatchesReference(seed: Int) {
        var random = SplitMix64(seed: seed)
        let rank = Int.random(in: 0...5, using: &random)
        let shape = random.shape(rank: rank, dimensions: 1...(rank > 3 ? 4 : 9))
        let permutation = Array(0..<rank).shuffled(using: &random)
        let elementSize = Self.elementSizes.randomElement(using: &random)!
        let x = Self.bytes(Kernels.elementCount(shape) * elementSize, seed: seed)
        var actual = [UInt8](repeating: 0, count: x.count), expected = actual
        Kernels.transpose(x, shape: shape, permutation: permutation, elementSize: elementSize, into: &actual)
        Kernels.referenceTranspose(x, shape: shape, permutation: permutation, elementSize: elementSize, into: &expected)
        #expect(actual == expected, "shape \(shape) permutation \(permutation) element size \(elementSize)")
    }

    @Test func transposeHandComputed() {
        // [2, 3] -> [3, 2]; and NCHW -> NHWC keeps nothing contiguous but the element.
        var y = [Float](repeating: 0, count: 6)
        Kernels.transpose([Float]([1, 2, 3, 4, 5, 6]), shape: [2, 3], permutation: [1, 0], elementSize: 4, into: &y)
        #expect(y == [1, 4, 2, 5, 3, 6])
        var z = [Float](repeating: 0, count: 12)
        Kernels.transpose((0..<12).map(Float.init), shape: [1, 3, 2, 2], permutation: [0, 2, 3, 1], elementSize: 4, into: &z)
        #expect(z == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])
    }

    @Test(arguments: 0..<25)
    func concatMatchesReference(seed: Int) {
        var random = SplitMix64(seed: 100 + seed)
        let rank = Int.random(in: 1...4, using: &random)
        let base = random.shape(rank: rank, dimensions: 1...5)
        let axis = Int.random(in: 0..<rank, using: &random)
        let elementSize = Self.elementSizes.randomElement(using: &random)!
        let shapes = (0..<Int.random(in: 1...4, using: &random)).map { _ in
            var shape = base
            shape[axis] = Int.random(in: 0...4, using: &random)
            return shape
        }
        let inputs = shapes.enumerated().map { Self.bytes(Kernels.elementCount($1) * elementSize, seed: seed * 10 + $0) }
        let total = inputs.reduce(0) { $0 + $1.count }
        var actual = [UInt8](repeating: 0, count: total), expected = actual
        withPointers(to: inputs) { pointers in
            let raw = pointers.map { UnsafeRawPointer($0) }
            Kernels.concat(raw, shapes: shapes, axis: axis, elementSize: elementSize, into: &actual)
            Kernels.referenceConcat(raw, shapes: shapes, axis: axis, elementSize: elementSize, into: &expected)
        }
        #expect(actual == expected, "shapes \(shapes) axis \(axis)")
    }

    @Test(arguments: 0..<30)
    func gatherMatchesReference(seed: Int) throws {
        var random = SplitMix64(seed: 200 + seed)
        let rank = Int.random(in: 1...4, using: &random)
        let shape = random.shape(rank: rank, dimensions: 1...5)
        let axis = Int.random(in: 0..<rank, using: &random)
        let elementSize = Self.elementSizes.randomElement(using: &random)!
        let indices = (0..<Int.random(in: 0...6, using: &random)).map { _ in
            Int.random(in: -shape[axis]..<shape[axis], using: &random)
        }
        let data = Self.bytes(Kernels.elementCount(shape) * elementSize, seed: seed)
        let outputCount = Kernels.elementCount(shape) / shape[axis] * indices.count * elementSize
        var actual = [UInt8](repeating: 0, count: outputCount), expected = actual
        try Kernels.referenceGather(data: data, dataShape: shape, indices: indices, axis: axis, elementSize: elementSize,
                                    into: &expected)
        try Kernels.gather(data: data, dataShape: shape, indices: indices.map { Int64($0) }, indicesCount: indices.count,
                           axis: axis, elementSize: elementSize, into: &actual)
        #expect(actual == expected, "shape \(shape) axis \(axis) indices \(indices)")
        actual = [UInt8](repeating: 0, count: outputCount)
        try Kernels.gather(data: data, dataShape: shape, indices: indices.map { Int32($0) }, indicesCount: indices.count,
                           axis: axis, elementSize: elementSize, into: &actual)
        #expect(actual == expected, "Int32 indices")
    }

    @Test func gatherRejectsIndicesOutOfRange() {
        let data: [Float] = [1, 2, 3, 4, 5, 6]  // [2, 3]
        var y = [Float](repeating: 0, count: 4)
        #expect(throws: KernelError("Gather index 3 is out of range for axis 1 of size 3")) {
            try Kernels.gather(data: data, dataShape: [2, 3], indices: [0, 3] as [Int64], indicesCount: 2, axis: 1,
                               elementSize: 4, into: &y)
        }
        #expect(throws: KernelError("Gather index -3 is out of range for axis 0 of size 2")) {
            try Kernels.gather(data: data, dataShape: [2, 3], indices: [-3] as [Int32], indicesCount: 1, axis: 0,
                               elementSize: 4, into: &y)
        }
        // -1 is the last row.
        #expect(throws: Never.self) {
            try Kernels.gather(data: data, dataShape: [2, 3], indices: [-1] as [Int64], indicesCount: 1, axis: 0,
                               elementSize: 4, into: &y)
        }
        #expect(Array(y.prefix(3)) == [4, 5, 6])
    }

    static func paddedShape(_ shape: [Int], _ pads: [Int]) -> [Int] {
        shape.indices.map { shape[$0] + pads[$0] + pads[$0 + shape.count] }
    }

    /// A random pad case for a seed: shapes and pads are redrawn from the seed's stream until the kernel
    /// accepts them (negative pads that crop everything, reflect wider than the axis, ...), so every seed
    /// tests one case; nil if 100 draws found none. Returns the number of draws it took as well.
    static func padCase(seed: Int) -> (shape: [Int], pads: [Int], mode: PadMode, draws: Int, random: SplitMix64)? {
        var random = SplitMix64(seed: 300 + seed)
        let mode = [PadMode.constant, .edge, .reflect, .wrap][seed % 4]
        for draws in 1...100 {
            let rank = Int.random(in: 1...4, using: &random)
            let shape = random.shape(rank: rank, dimensions: 1...5)
            let pads = (0..<(2 * rank)).map { _ in Int.random(in: -2...6, using: &random) }
            if Kernels.padProblem(shape: shape, pads: pads, mode: mode) == nil { return (shape, pads, mode, draws, random) }
        }
        return nil
    }

    static let padSeeds = 0..<60

    /// No seed is skipped, the redraw path is taken, and every mode gets cases with negative pads.
    @Test func everyPadSeedDrawsAValidCase() {
        let cases = Self.padSeeds.compactMap { Self.padCase(seed: $0) }
        #expect(cases.count == Self.padSeeds.count, "\(Self.padSeeds.count - cases.count) seeds found no valid case in 100 draws")
        #expect(cases.contains { $0.draws > 1 }, "no seed needed a second draw: the resampling is untested")
        for mode in [PadMode.constant, .edge, .reflect, .wrap] {
            #expect(cases.contains { $0.mode == mode && $0.pads.contains { $0 < 0 } }, "\(mode) with a negative pad")
        }
    }

    @Test(arguments: padSeeds)
    func padMatchesReference(seed: Int) throws {
        let drawn = try #require(Self.padCase(seed: seed), "seed \(seed) drew no valid case")
        let (shape, pads, mode) = (drawn.shape, drawn.pads, drawn.mode)
        var random = drawn.random
        let elementSize = Self.elementSizes.randomElement(using: &random)!
        let x = Self.bytes(Kernels.elementCount(shape) * elementSize, seed: seed)
        let constant = Self.bytes(elementSize, seed: -seed)
        let count = Kernels.elementCount(Self.paddedShape(shape, pads)) * elementSize
        var actual = [UInt8](repeating: 0, count: count), expected = actual
        Kernels.pad(x, shape: shape, pads: pads, mode: mode, constantValue: constant, elementSize: elementSize, into: &actual)
        Kernels.referencePad(x, shape: shape, pads: pads, mode: mode, constantValue: constant, elementSize: elementSize,
                             into: &expected)
        #expect(actual == expected, "shape \(shape) pads \(pads) mode \(mode)")
    }

    /// Cases checked against ONNX Runtime 1.31 (negative pads crop first) and numpy (reflect past one period).
    @Test(arguments: [
        (PadMode.constant, [-1, 2], [2, 3, 4, 9, 9]),
        (.constant, [3, 3], [9, 9, 9, 1, 2, 3, 4, 9, 9, 9]),
        (.edge, [-1, 2], [2, 3, 4, 4, 4]),
        (.edge, [2, -1], [1, 1, 1, 2, 3]),
        (.reflect, [3, 3], [4, 3, 2, 1, 2, 3, 4, 3, 2, 1]),
        (.reflect, [2, -1], [3, 2, 1, 2, 3]),
        (.reflect, [-1, 2], [2, 3, 4, 3, 2]),
        (.reflect, [5, 6], [2, 3, 4, 3, 2, 1, 2, 3, 4, 3, 2, 1, 2, 3, 4]),
        (.wrap, [-1, 2], [2, 3, 4, 2, 3]),
        (.wrap, [2, -1], [2, 3, 1, 2, 3]),
        (.wrap, [5, 6], [4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2]),
        (.wrap, [-1, -1], [2, 3]),
    ] as [(PadMode, [Int], [Float])])
    func padHandComputed(mode: PadMode, pads: [Int], expected: [Float]) {
        let x: [Float] = [1, 2, 3, 4]
        var y = [Float](repeating: 0, count: expected.count)
        Kernels.pad(x, shape: [4], pads: pads, mode: mode, constantValue: [Float(9)], elementSize: 4, into: &y)
        #expect(y == expected)
    }

    @Test func padTwoAxesAsONNXRuntime() {
        // [3, 4] with pads [-1, 1, 2, -1] in wrap mode: rows 1...2, columns 0...2 kept, then wrapped.
        let x = (0..<12).map(Float.init)
        var y = [Float](repeating: 0, count: 16)
        Kernels.pad(x, shape: [3, 4], pads: [-1, 1, 2, -1], mode: .wrap, constantValue: [Float(0)], elementSize: 4, into: &y)
        #expect(y == [6, 4, 5, 6, 10, 8, 9, 10, 6, 4, 5, 6, 10, 8, 9, 10])
    }

    @Test func padProblemsAreReported() {
        #expect(Kernels.padProblem(shape: [0], pads: [1, 1], mode: .edge) != nil)
        #expect(Kernels.padProblem(shape: [2], pads: [-2, 1], mode: .reflect) != nil)
        #expect(Kernels.padProblem(shape: [2], pads: [-2, 1], mode: .constant) == nil)
        #expect(Kernels.padProblem(shape: [2], pads: [-2, -1], mode: .constant) != nil)
        #expect(Kernels.padProblem(shape: [2, 3], pads: [1, 1], mode: .constant) != nil)
        #expect(Kernels.padProblem(shape: [0, 3], pads: [0, 1, 0, 1], mode: .wrap) == nil)
    }
}
