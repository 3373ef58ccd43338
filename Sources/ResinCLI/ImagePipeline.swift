import Resin
import ResinImage

#if canImport(Glibc)
import Glibc
#endif

/// One batch of images decoded and preprocessed into a model input.
struct DecodedBatch: Sendable {
    /// The batch's position in the run (0, 1, ...).
    var index: Int
    /// The images' paths; fewer than the batch size for the last batch.
    var paths: [String]
    /// The input tensor, [batch, ...] as the recipe lays it out; rows past `paths.count`, and rows of images
    /// that failed, are zeros.
    var tensor: Resin.Tensor
    /// Why each image failed, by its row; nil for the images that decoded.
    var errors: [String?]
}

/// Decodes and preprocesses the images of a run on producer threads while the caller runs the model, so
/// that decoding the next batch overlaps inference of the current one.
///
/// Producers take batches in order and hand them over in order; they run at most `lookahead` batches ahead
/// of the one the caller is scoring, which bounds memory (a few batches of tensors) whatever the list's
/// length. Two producers keep up when one image's decoding takes longer than its share of a batch's
/// inference (small models, large JPEGs); while the model runs they compete with its threads for the same
/// cores, which is the price of overlap on a machine with no idle core.
final class ImagePipeline: @unchecked Sendable {
    private let paths: [String]
    private let batch: Int
    private let recipe: PreprocessingRecipe
    private let lookahead: Int
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // Guarded by `mutex`:
    private var nextToClaim = 0
    private var nextToTake = 0
    private var ready: [Int: Result<DecodedBatch, Error>] = [:]
    private var stopped = false
    private var running = 0

    /// How many batches the images make.
    let batchCount: Int

    /// Starts `producers` threads decoding `paths` into batches of `batch` rows with `recipe`.
    init(paths: [String], batch: Int, recipe: PreprocessingRecipe, producers: Int = 2, lookahead: Int = 2) {
        precondition(batch >= 1 && producers >= 1 && lookahead >= 1, "a pipeline needs a batch, a producer and room for one batch")
        self.paths = paths
        self.batch = batch
        self.recipe = recipe
        self.lookahead = lookahead
        batchCount = (paths.count + batch - 1) / batch
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(changed, nil)
        running = min(producers, max(batchCount, 1))
        for _ in 0..<running { startThread { [self] in produce() } }
    }

    deinit {
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        changed.deallocate()
    }

    /// The next batch in order, waiting for it; nil after the last. A producer's failure (out of memory for
    /// the tensor, say) is thrown here, in the caller's thread.
    func next() throws -> DecodedBatch? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        guard nextToTake < batchCount else { return nil }
        while ready[nextToTake] == nil { pthread_cond_wait(changed, mutex) }
        let result = ready.removeValue(forKey: nextToTake)!
        nextToTake += 1
        // Taking a batch makes room for one more ahead.
        pthread_cond_broadcast(changed)
        return try result.get()
    }

    /// Stops the producers after the batches they are working on, and waits for them: a run that ends early
    /// (`--fail-fast`) leaves no thread decoding behind it.
    func stop() {
        pthread_mutex_lock(mutex)
        stopped = true
        pthread_cond_broadcast(changed)
        while running > 0 { pthread_cond_wait(changed, mutex) }
        pthread_mutex_unlock(mutex)
    }

    private func produce() {
        while let index = claim() {
            let result = Result { try decode(batch: index) }
            pthread_mutex_lock(mutex)
            ready[index] = result
            pthread_cond_broadcast(changed)
            pthread_mutex_unlock(mutex)
        }
        pthread_mutex_lock(mutex)
        running -= 1
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
    }

    /// The next batch index to decode, once it is within `lookahead` of the batch being scored; nil when
    /// every batch is claimed or the pipeline stopped.
    private func claim() -> Int? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !stopped, nextToClaim < batchCount, nextToClaim >= nextToTake + lookahead {
            pthread_cond_wait(changed, mutex)
        }
        guard !stopped, nextToClaim < batchCount else { return nil }
        nextToClaim += 1
        return nextToClaim - 1
    }

    private func decode(batch index: Int) throws -> DecodedBatch {
        let first = index * batch
        let paths = Array(self.paths[first..<min(first + batch, self.paths.count)])
        var errors = [String?](repeating: nil, count: paths.count)
        let values = recipe.valuesPerImage
        let tensor = try Resin.Tensor(shape: recipe.inputShape(batch: batch), elementType: .float32) { raw in
            let floats = raw.bindMemory(to: Float.self)
            for (row, path) in paths.enumerated() {
                do {
                    let image = try ImageDecoder.decode(file: path)
                    recipe.apply(to: image, into: UnsafeMutableBufferPointer(rebasing: floats[(row * values)..<((row + 1) * values)]))
                } catch let error as ImageError {
                    // The record names the image already; its error need not repeat the path.
                    errors[row] = error.message
                } catch {
                    errors[row] = "\(error)"
                }
            }
        }
        return DecodedBatch(index: index, paths: paths, tensor: tensor, errors: errors)
    }
}

/// Runs `body` on a new detached POSIX thread.
private func startThread(_ body: @escaping @Sendable () -> Void) {
    final class Box: @unchecked Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let status = pthread_create(&thread, nil, { context in
        let box = Unmanaged<Box>.fromOpaque(context!).takeRetainedValue()
        box.body()
        return nil
    }, box)
    precondition(status == 0, "pthread_create failed: \(status)")
    pthread_detach(thread)
}
