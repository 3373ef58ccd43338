import ResinIR

/// MaxPool or AveragePool.
struct PoolStep {
    enum Kind {
        case max(indices: UnsafeMutablePointer<Int64>?, storageOrder: Int)
        case average(countIncludePad: Bool)
    }

    var kind: Kind
    var input: UnsafePointer<Float>
    var shape: [Int]
    var window: ResolvedWindow
    var output: UnsafeMutablePointer<Float>
    var pool: WorkerPool

    func run() {
        switch kind {
        case .max(let indices, let storageOrder):
            Kernels.maxPool(input, inputShape: shape, window: window, into: output, indices: indices, storageOrder: storageOrder,
                            pool: pool)
        case .average(let countIncludePad):
            Kernels.averagePool(input, inputShape: shape, window: window, countIncludePad: countIncludePad, into: output, pool: pool)
        }
    }
}

/// GlobalAveragePool or GlobalMaxPool.
struct GlobalPoolStep {
    var isMax: Bool
    var input: UnsafePointer<Float>
    var shape: [Int]
    var output: UnsafeMutablePointer<Float>

    func run() {
        if isMax {
            Kernels.globalMaxPool(input, shape: shape, into: output)
        } else {
            Kernels.globalAveragePool(input, shape: shape, into: output)
        }
    }
}
