import ResinIR
import Testing
import TestSupport
@testable import ResinRuntime

@Suite struct ElementwiseKernelTests {
    static let operations: [BinaryOperation] = [.add, .sub, .mul, .div]

    /// A random output shape and two operand shapes that broadcast to it: each operand drops some
    /// leading axes and sets some others to 1.
    static func broadcastShapes(_ random: inout SplitMix64) -> (a: [Int], b: [Int], out: [Int]) {
        let rank = Int.random(in: 0...5, using: &random)
        let out = (0..<rank).map { _ in random.chance(0.2) ? Int.random(in: 9...19, using: &random) : Int.random(in: 1...4, using: &random) }
        func operand(_ random: inout SplitMix64) -> [Int] {
            let dropped = Int.random(in: 0...rank, using: &random)
            return out.dropFirst(dropped).map { random.chance(0.4) ? 1 : $0 }
        }
        return (operand(&random), operand(&random), out)
    }

    static func floatOperation(_ operation: BinaryOperation) -> (Float, Float) -> Float {
        switch operation {
        case .add: { $0 + $1 }
        case .sub: { $0 - $1 }
        case .mul: { $0 * $1 }
        case .div: { $0 / $1 }
        }
    }

    @Test(arguments: 0..<60)
    func floatBroadcastMatchesReference(seed: Int) {
        var random = SplitMix64(seed: seed)
        let (aShape, bShape, outShape) = Self.broadcastShapes(&random)
        let a = random.floats(Kernels.elementCount(aShape), in: -4...4)
        let b = random.floats(Kernels.elementCount(bShape), in: 0.5...4)
        for operation in Self.operations {
            var actual = [Float](repeating: .nan, count: Kernels.elementCount(outShape))
            var expected = actual
            Kernels.binary(operation, a, aShape, b, bShape, into: &actual, outShape)
            Kernels.referenceBinary(a, aShape, b, bShape, into: &expected, outShape, Self.floatOperation(operation))
            // Each output is one IEEE operation on the same two floats, so results are bit-exact.
            expectClose(actual, expected, rtol: 0, atol: 0, "\(operation) \(aShape) with \(bShape)")
        }
    }

    /// The shapes ResNet-family graphs produce: residual add, per-channel scale, scalar, and odd tails.
    @Test(arguments: [
        ([2, 3, 5, 7], [2, 3, 5, 7]),
        ([2, 3, 5, 7], [3, 1, 1]),
        ([2, 3, 5, 7], [1, 3, 1, 1]),
        ([3, 1, 1], [2, 3, 5, 7]),
        ([2, 3, 5, 7], []),
        ([], [2, 3, 5, 7]),
        ([2, 3, 5, 7], [7]),
        ([4, 1, 9], [1, 6, 1]),
        ([1, 1000], [1000]),
        ([37], [1]),
    ])
    func commonShapesMatchReference(aShape: [Int], bShape: [Int]) {
        var random = SplitMix64(seed: aShape.count * 31 + bShape.count)
        let outShape = Self.broadcast(aShape, bShape)
        let a = random.floats(Kernels.elementCount(aShape))
        let b = random.floats(Kernels.elementCount(bShape), in: 1...2)
        for operation in Self.operations {
            var actual = [Float](repeating: .nan, count: Kernels.elementCount(outShape))
            var expected = actual
            Kernels.binary(operation, a, aShape, b, bShape, into: &actual, outShape)
            Kernels.referenceBinary(a, aShape, b, bShape, into: &expected, outShape, Self.floatOperation(operation))
            expectClose(actual, expected, rtol: 0, atol: 0, "\(operation) \(aShape) with \(bShape)")
        }
    }

    static func broadcast(_ a: [Int], _ b: [Int]) -> [Int] {
        let rank = max(a.count, b.count)
        let a = Array(repeating: 1, count: rank - a.count) + a, b = Array(repeating: 1, count: rank - b.count) + b
        return zip(a, b).map { max($0, $1) }
    }

    @Test func addsInPlaceIntoTheResidualBuffer() {
        var random = SplitMix64(seed: 5)
        let shape = [2, 3, 4, 5]
        let original = random.floats(120)
        let bias = random.floats(3)
        var expected = [Float](repeating: 0, count: 120)
        Kernels.referenceBinary(original, shape, bias, [3, 1, 1], into: &expected, shape, +)
        var buffer = original
        buffer.withUnsafeMutableBufferPointer { pointer in
            Kernels.binary(.add, UnsafePointer(pointer.baseAddress!), shape, bias, [3, 1, 1], into: pointer.baseAddress!, shape)
        }
        #expect(buffer == expected)
        // The aliased operand may also be the right-hand one.
        var second = original
        var expectedSecond = [Float](repeating: 0, count: 120)
        Kernels.referenceBinary(bias, [3, 1, 1], original, shape, into: &expectedSecond, shape, -)
        second.withUnsafeMutableBufferPointer { pointer in
            Kernels.binary(.sub, bias, [3, 1, 1], UnsafePointer(pointer.baseAddress!), shape, into: pointer.baseAddress!, shape)
        }
        #expect(second == expectedSecond)
    }

    @Test func floatDivisionFollowsIEEE() {
        let a: [Float] = [1, -1, 0, .nan, 6]
        let b: [Float] = [0, 0, 0, 1, 4]
        var out = [Float](repeating: 0, count: 5)
        Kernels.binary(.div, a, [5], b, [5], into: &out, [5])
        expectClose(out, [.infinity, -.infinity, .nan, .nan, 1.5], rtol: 0, atol: 0)
    }

    @Test(arguments: 0..<30)
    func integerBroadcastMatchesReference(seed: Int) throws {
        var random = SplitMix64(seed: 1000 + seed)
        let (aShape, bShape, outShape) = Self.broadcastShapes(&random)
        let a = (0..<Kernels.elementCount(aShape)).map { _ in Int64.random(in: -50...50, using: &random) }
        let b = (0..<Kernels.elementCount(bShape)).map { _ in
            Int64.random(in: 1...9, using: &random) * (random.chance(0.5) ? -1 : 1)
        }
        let operations: [(BinaryOperation, (Int64, Int64) -> Int64)] = [
            (.add, { $0 + $1 }), (.sub, { $0 - $1 }), (.mul, { $0 * $1 }), (.div, { $0 / $1 }),
        ]
        for (operation, function) in operations {
            var actual = [Int64](repeating: -999, count: Kernels.elementCount(outShape))
            var expected = actual
            try Kernels.binary(operation, a, aShape, b, bShape, into: &actual, outShape)
            Kernels.referenceBinary(a, aShape, b, bShape, into: &expected, outShape, function)
            #expect(actual == expected, "\(operation) \(aShape) with \(bShape)")
            // The Int32 form shares the code; check it agrees.
            var narrow = [Int32](repeating: -999, count: actual.count)
            try Kernels.binary(operation, a.map { Int32($0) }, aShape, b.map { Int32($0) }, bShape, into: &narrow, outShape)
            #expect(narrow.map { Int64($0) } == expected)
        }
    }

    /// ONNX's reference evaluator and ONNX Runtime both truncate integer division toward zero.
    @Test func integerDivisionTruncatesTowardZero() throws {
        let a: [Int64] = [7, -7, 7, -7, 5, .min]
        let b: [Int64] = [2, 2, -2, -2, 1, -1]
        var out = [Int64](repeating: 0, count: 6)
        try Kernels.binary(.div, a, [6], b, [6], into: &out, [6])
        #expect(out == [3, -3, -3, 3, 5, .min])
    }

    @Test func integerArithmeticWrapsOnOverflow() throws {
        var out = [Int64](repeating: 0, count: 2)
        try Kernels.binary(.add, [.max, .min] as [Int64], [2], [1] as [Int64], [], into: &out, [2])
        #expect(out == [.min, .min + 1])
        try Kernels.binary(.mul, [.max] as [Int64], [1], [2, 3] as [Int64], [2], into: &out, [2])
        #expect(out == [Int64.max &* 2, Int64.max &* 3])
    }

    @Test func integerDivisionByZeroThrows() {
        var out = [Int64](repeating: 0, count: 3)
        #expect(throws: KernelError.self) {
            try Kernels.binary(.div, [1, 2, 3] as [Int64], [3], [1, 0, 1] as [Int64], [3], into: &out, [3])
        }
        var narrow = [Int32](repeating: 0, count: 3)
        #expect(throws: KernelError.self) {
            try Kernels.binary(.div, [1, 2, 3] as [Int32], [3], [0] as [Int32], [], into: &narrow, [3])
        }
        // An empty output divides nothing, so a zero divisor is harmless there.
        #expect(throws: Never.self) {
            try Kernels.binary(.div, [] as [Int64], [0], [0] as [Int64], [1], into: &out, [0])
        }
    }

    @Test(arguments: 0..<20)
    func sumMatchesChainedAdds(seed: Int) {
        var random = SplitMix64(seed: 2000 + seed)
        let count = Int.random(in: 1...4, using: &random)
        let outShape = random.shape(rank: Int.random(in: 1...4, using: &random), dimensions: 1...5)
        let shapes = (0..<count).map { index in
            index == 0 ? outShape : Array(outShape.dropFirst(Int.random(in: 0...outShape.count, using: &random)).map { random.chance(0.3) ? 1 : $0 })
        }
        let inputs = shapes.map { random.floats(Kernels.elementCount($0)) }
        let outCount = Kernels.elementCount(outShape)
        var expected = [Float](repeating: 0, count: outCount)
        for (input, shape) in zip(inputs, shapes) {
            let previous = expected
            Kernels.referenceBinary(previous, outShape, input, shape, into: &expected, outShape, +)
        }
        var actual = [Float](repeating: .nan, count: outCount)
        withPointers(to: inputs) { pointers in
            Kernels.sum(pointers, shapes: shapes, into: &actual, outShape: outShape)
        }
        expectClose(actual, expected, rtol: 1e-6, atol: 1e-6)
    }
}

/// Calls `body` with stable pointers to each array's elements.
func withPointers<T, R>(to arrays: [[T]], _ body: ([UnsafePointer<T>]) throws -> R) rethrows -> R {
    let total = arrays.reduce(0) { $0 + $1.count }
    let storage = UnsafeMutablePointer<T>.allocate(capacity: max(total, 1))
    defer { storage.deinitialize(count: total); storage.deallocate() }
    var pointers: [UnsafePointer<T>] = []
    var offset = 0
    for array in arrays {
        (storage + offset).initialize(from: array, count: array.count)
        pointers.append(UnsafePointer(storage + offset))
        offset += array.count
    }
    return try body(pointers)
}
