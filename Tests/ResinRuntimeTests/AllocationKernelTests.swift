import CAllocationCounter
import Glibc
import ResinIR
import Testing
import TestSupport
@testable import ResinRuntime

/// Every kernel runs without touching the heap once its operands exist (the executor's contract:
/// after the first run, a session allocates nothing per inference).
@Suite(.enabled(if: resin_allocation_counting_available() != 0, "a sanitizer's runtime owns malloc: nothing is counted"))
struct AllocationKernelTests {
    /// Heap allocations `body` makes on this thread (after one untimed warm-up call).
    static func allocations(_ body: () throws -> Void) rethrows -> Int {
        try body()
        resin_allocation_counting_begin()
        try body()
        return resin_allocation_counting_end()
    }

    @Test func kernelsAllocateNothing() throws {
        let shape = [2, 3, 9, 11], count = 594
        let x = UnsafeMutablePointer<Float>.allocate(capacity: count)
        let y = UnsafeMutablePointer<Float>.allocate(capacity: count)
        let z = UnsafeMutablePointer<Float>.allocate(capacity: count)
        let indices = UnsafeMutablePointer<Int64>.allocate(capacity: count)
        defer { x.deallocate(); y.deallocate(); z.deallocate(); indices.deallocate() }
        var random = SplitMix64(seed: 1)
        for index in 0..<count { x[index] = Float.random(in: -1...1, using: &random); z[index] = 1 }
        let window = try WindowAttributes(kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1])
            .resolve(spatial: [9, 11], kernel: [3, 3])
        let integers = UnsafeMutablePointer<Int64>.allocate(capacity: 4)
        defer { integers.deallocate() }
        integers.initialize(repeating: 3, count: 4)
        let inputs = [UnsafePointer(x), UnsafePointer(z), UnsafePointer(x)]
        let shapes = [shape, [3, 1, 1], shape]
        let raw = [UnsafeRawPointer(x), UnsafeRawPointer(z)]
        let concatShapes = [[2, 3, 33], [2, 3, 33]]
        let gatherIndices: [Int64] = [0, -1, 1]
        let pads = [0, 0, 1, -1, 0, 1, 2, 1]
        let padMode = PadMode.reflect
        let axes = [1, 3]
        let permutation = [0, 2, 3, 1]
        // Shapes live in variables: an array literal inside a closure would allocate on every call.
        let channelShape = [3, 1, 1], aShape = [2, 1, 9, 11], bShape = [3, 9, 1]
        let vector = [4], scalar = [1], padInput = [2, 3, 9, 5], batchAxis = [0]
        let classifier = GemmGeometry(m: 2, n: 6, k: 99, transA: false, transB: true, alpha: 1, beta: 1, biasShape: [6])

        let checks: [(String, () throws -> Void)] = [
            ("binary", { Kernels.binary(.add, x, shape, z, channelShape, into: y, shape) }),
            ("binary general", { Kernels.binary(.mul, x, aShape, z, bShape, into: y, shape) }),
            ("integer binary", { try Kernels.binary(.div, integers, vector, integers, scalar, into: integers, vector) }),
            ("sum", { Kernels.sum(inputs, shapes: shapes, into: y, outShape: shape) }),
            ("relu", { Kernels.relu(x, into: y, count: count) }),
            ("clip", { Kernels.clip(x, into: y, count: count, min: 0, max: 6) }),
            ("leakyRelu", { Kernels.leakyRelu(x, into: y, count: count, alpha: 0.1) }),
            ("affine", { Kernels.affinePerChannel(x, shape: shape, scale: z, shift: z, into: y) }),
            ("lrn", { Kernels.lrn(x, shape: shape, size: 3, alpha: 1e-4, beta: 0.75, bias: 1, into: y) }),
            ("softmax", { Kernels.softmax(x, outer: 6, axisLength: 9, inner: 11, into: y) }),
            ("maxPool", { Kernels.maxPool(x, inputShape: shape, window: window, into: y, indices: indices) }),
            ("maxPool in C", { Kernels.maxPool(x, inputShape: shape, window: window, into: y) }),
            ("gemm row product", { Kernels.gemm(a: z, b: x, c: z, output: y, geometry: classifier) }),
            ("averagePool", { Kernels.averagePool(x, inputShape: shape, window: window, countIncludePad: true, into: y) }),
            ("globalPools", {
                Kernels.globalAveragePool(x, shape: shape, into: y)
                Kernels.globalMaxPool(x, shape: shape, into: y)
            }),
            ("transpose", { Kernels.transpose(x, shape: shape, permutation: permutation, elementSize: 4, into: y) }),
            ("concat", { Kernels.concat(raw, shapes: concatShapes, axis: 2, elementSize: 4, into: y) }),
            ("gather", {
                try Kernels.gather(data: x, dataShape: shape, indices: gatherIndices, indicesCount: 3, axis: 2,
                                   elementSize: 4, into: y)
            }),
            ("pad", {
                Kernels.pad(x, shape: padInput, pads: pads, mode: padMode, constantValue: z, elementSize: 4, into: y)
            }),
            ("reduceMean", { Kernels.reduceMean(x, shape: shape, axes: axes, into: y) }),
            ("reduceMean strided", { Kernels.reduceMean(x, shape: shape, axes: batchAxis, into: y) }),
        ]
        for (name, check) in checks {
            let allocations = try Self.allocations(check)
            #expect(allocations == 0, "\(name) allocated \(allocations) times")
        }
    }

    /// Allocations a thread started by the test makes (a session's pool thread, say) are counted with the
    /// test's own: a per-thread counter would report none of them.
    @Test func countsAllocationsOfThreadsTheTestStarts() throws {
        resin_allocation_group_join()
        defer { resin_allocation_group_leave() }
        resin_allocation_counting_begin()
        let allocations = try Self.allocateOnNewThread(times: 1000)
        let counted = resin_allocation_counting_end()
        #expect(allocations == 1000)
        #expect(counted >= 1000, "the counter saw \(counted) of the other thread's 1000 allocations")
    }

    /// A thread that was not started inside the group (another test's, running in parallel) is not counted.
    @Test func ignoresThreadsOutsideTheGroup() throws {
        resin_allocation_group_leave()
        let go = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
        defer { sem_destroy(go); go.deallocate() }
        sem_init(go, 0, 0)
        var thread = pthread_t()
        let started = pthread_create(&thread, nil, { raw in
            // Allocates only once the counting section below is armed.
            sem_wait(raw!.assumingMemoryBound(to: sem_t.self))
            for _ in 0..<1000 { free(malloc(24)) }
            return nil
        }, go)
        try #require(started == 0)
        resin_allocation_group_join()
        defer { resin_allocation_group_leave() }
        resin_allocation_counting_begin()
        sem_post(go)
        pthread_join(thread, nil)
        let counted = resin_allocation_counting_end()
        #expect(counted < 1000, "an outside thread's allocations were counted (\(counted))")
    }

    /// Starts a thread that makes `times` heap allocations, waits for it, and returns how many it made.
    static func allocateOnNewThread(times: Int) throws -> Int {
        let box = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        defer { box.deallocate() }
        box.initialize(to: times)
        var thread = pthread_t()
        let started = pthread_create(&thread, nil, { raw in
            let count = raw!.assumingMemoryBound(to: Int.self)
            var made = 0
            for _ in 0..<count.pointee {
                free(malloc(32))
                made += 1
            }
            count.pointee = made
            return nil
        }, box)
        try #require(started == 0)
        pthread_join(thread, nil)
        return box.pointee
    }
}
