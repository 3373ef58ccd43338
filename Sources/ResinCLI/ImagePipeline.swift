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
/// that decoding the next batches overlaps inference of the current one.
///
/// Work is claimed one image at a time, batches in order, at most `lookahead` batches ahead of the one the
/// caller takes next, which bounds memory (a few batches of floats) whatever the list's length. Producers
/// run in the idle scheduling class (`yieldToInference`), and the caller, when the batch it needs is not
/// complete, decodes that batch's unclaimed images itself at normal priority: idle cores decode ahead, and
/// a machine with none left still makes progress at the speed of decoding in line.
final class ImagePipeline: @unchecked Sendable {
    /// A batch being decoded: its rows' floats and how far its images have got.
    private final class PendingBatch {
        let first: Int
        let count: Int
        let values: UnsafeMutableBufferPointer<Float>
        var errors: [String?]
        var claimed = 0
        var finished = 0

        init(first: Int, count: Int, floats: Int) {
            self.first = first
            self.count = count
            values = .allocate(capacity: floats)
            // Zeros pad a short last batch and stand in for images that fail.
            values.initialize(repeating: 0)
            errors = Array(repeating: nil, count: count)
        }

        deinit { values.deallocate() }
    }

    private let paths: [String]
    private let batch: Int
    private let recipe: PreprocessingRecipe
    private let lookahead: Int
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // Guarded by `mutex`:
    private var pending: [Int: PendingBatch] = [:]
    private var nextToTake = 0
    private var stopped = false
    private var running = 0

    /// How many batches the images make.
    let batchCount: Int

    /// Starts `producers` threads decoding `paths` into batches of `batch` rows with `recipe`.
    init(paths: [String], batch: Int, recipe: PreprocessingRecipe, producers: Int = 2, lookahead: Int = 2) {
        precondition(batch >= 1 && producers >= 0 && lookahead >= 1, "a pipeline needs a batch and room for one batch")
        self.paths = paths
        self.batch = batch
        self.recipe = recipe
        self.lookahead = lookahead
        batchCount = (paths.count + batch - 1) / batch
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(changed, nil)
        running = min(producers, paths.count)
        let wanted = running
        for started in 0..<wanted {
            if startThread({ [self] in produce() }) { continue }
            // Out of threads: the caller decodes what the missing producers would have (`next` needs none).
            pthread_mutex_lock(mutex)
            running -= wanted - started
            pthread_mutex_unlock(mutex)
            break
        }
    }

    deinit {
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        changed.deallocate()
    }

    /// The next batch in order, decoding its unclaimed images on the calling thread and waiting for those
    /// a producer is decoding; nil after the last.
    func next() throws -> DecodedBatch? {
        pthread_mutex_lock(mutex)
        guard nextToTake < batchCount else {
            pthread_mutex_unlock(mutex)
            return nil
        }
        let index = nextToTake
        let current = opened(index)
        while current.finished < current.count {
            if current.claimed < current.count {
                let row = current.claimed
                current.claimed += 1
                pthread_mutex_unlock(mutex)
                let error = decode(row, of: current)
                pthread_mutex_lock(mutex)
                finish(row, of: current, error: error)
            } else {
                pthread_cond_wait(changed, mutex)
            }
        }
        pending[index] = nil
        nextToTake += 1
        // Taking a batch makes room for one more ahead.
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
        let tensor = try Resin.Tensor(shape: recipe.inputShape(batch: batch), elementType: .float32) { raw in
            raw.copyMemory(from: UnsafeRawBufferPointer(current.values))
        }
        return DecodedBatch(index: index, paths: Array(paths[current.first..<(current.first + current.count)]),
                            tensor: tensor, errors: current.errors)
    }

    /// Stops the producers after the images they are decoding, and waits for them: a run that ends early
    /// (`--fail-fast`) leaves no thread decoding behind it.
    func stop() {
        pthread_mutex_lock(mutex)
        stopped = true
        pthread_cond_broadcast(changed)
        while running > 0 { pthread_cond_wait(changed, mutex) }
        pending.removeAll()
        pthread_mutex_unlock(mutex)
    }

    private func produce() {
        Self.yieldToInference()
        pthread_mutex_lock(mutex)
        while let (batch, row) = claim() {
            pthread_mutex_unlock(mutex)
            let error = decode(row, of: batch)
            pthread_mutex_lock(mutex)
            finish(row, of: batch, error: error)
        }
        running -= 1
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
    }

    /// The batch `index`, made when first needed. Called holding `mutex`.
    private func opened(_ index: Int) -> PendingBatch {
        if let batch = pending[index] { return batch }
        let first = index * batch
        let made = PendingBatch(first: first, count: min(batch, paths.count - first), floats: batch * recipe.valuesPerImage)
        pending[index] = made
        return made
    }

    /// The next image to decode within `lookahead` batches of the caller, waiting while every image there
    /// is claimed; nil when every image is claimed or the pipeline stopped. Called holding `mutex`.
    private func claim() -> (PendingBatch, Int)? {
        while !stopped {
            let end = min(nextToTake + lookahead, batchCount)
            for index in nextToTake..<max(end, nextToTake) {
                let batch = opened(index)
                if batch.claimed < batch.count {
                    batch.claimed += 1
                    return (batch, batch.claimed - 1)
                }
            }
            if end == batchCount { return nil }
            pthread_cond_wait(changed, mutex)
        }
        return nil
    }

    /// Records a decoded image. Called holding `mutex`.
    private func finish(_ row: Int, of batch: PendingBatch, error: String?) {
        batch.errors[row] = error
        batch.finished += 1
        if batch.finished == batch.count { pthread_cond_broadcast(changed) }
    }

    /// Decodes one image into its row; returns why it failed, if it did.
    private func decode(_ row: Int, of batch: PendingBatch) -> String? {
        let values = recipe.valuesPerImage
        do {
            let image = try ImageDecoder.decode(file: paths[batch.first + row])
            recipe.apply(to: image, into: UnsafeMutableBufferPointer(rebasing: batch.values[(row * values)..<((row + 1) * values)]))
            return nil
        } catch {
            // The record names the image already; its error need not repeat the path.
            return error.message
        }
    }

    /// Puts the calling producer in Linux's SCHED_IDLE class: it runs only on a core that no ordinary thread
    /// wants. Inference splits each step over every core and waits for the slowest part, so a decoder that
    /// preempts one of its workers at normal priority stalls them all. Idle-class decoders fill the gaps
    /// instead (the worker pool's waits, scoring and writing between batches); when they fall behind, the
    /// caller decodes in line. Elsewhere, or if refused, they run at normal priority.
    private static func yieldToInference() {
        #if os(Linux)
        var parameters = sched_param()
        parameters.sched_priority = 0
        // SCHED_IDLE is 5 in <sched.h>; Glibc's module map does not export the macro.
        _ = pthread_setschedparam(pthread_self(), 5, &parameters)
        #endif
    }
}

/// Runs `body` on a new detached POSIX thread; false when the system gives no thread.
private func startThread(_ body: @escaping @Sendable () -> Void) -> Bool {
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
    guard status == 0 else {
        Unmanaged<Box>.fromOpaque(box).release()
        return false
    }
    pthread_detach(thread)
    return true
}
