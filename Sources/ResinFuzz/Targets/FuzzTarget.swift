import Resin
import ResinIR
import ResinONNX
import ResinFormat
import ResinImage

#if canImport(Glibc)
import Glibc
#endif

/// The readers the fuzzer drives, each taking arbitrary bytes the way the command-line tool takes a file.
///
/// libFuzzer (`tools/fuzz`) and the regression tests (`Tests/FuzzRegressions`) both call `run`, so a crash
/// file found by one replays in the other through exactly the same code. A reader may refuse its input
/// with an error, never crash: the error's text is returned so tests can check it names the file.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// An ONNX model: import, then shape inference, cost and the memory plan as `resin inspect` does (the plan
    /// held to 512 MiB, so a file's sizes cannot make the target allocate past libFuzzer's limit).
    case onnx
    /// A native `.resin` file. The first byte picks the mode (bit 0: `--verify-weights`); the rest is the file.
    case resin
    /// A NumPy `.npy` tensor file.
    case npy
    /// One serialized ONNX `TensorProto` (`.pb`).
    case pb
    /// A JPEG image: decoded (at most 16 MiB of RGB, so a small file cannot make the target allocate past
    /// libFuzzer's limit), then preprocessed with the ImageNet recipe, whose resampling meets every odd size.
    case jpeg
    /// A PNG image, decoded and preprocessed as `jpeg` is.
    case png

    /// The name the input is given in error messages (and the extension the readers go by).
    public var fileName: String {
        switch self {
        case .onnx: "fuzz-input.onnx"
        case .resin: "fuzz-input.resin"
        case .npy: "fuzz-input.npy"
        case .pb: "fuzz-input.pb"
        case .jpeg: "fuzz-input.jpg"
        case .png: "fuzz-input.png"
        }
    }

    /// Feeds `bytes` to the target's reader; returns nil when the input was accepted, else the error's text.
    @discardableResult
    public func run(_ bytes: UnsafeRawBufferPointer) -> String? {
        do {
            switch self {
            case .onnx:
                // Through a file, as `inspect` reads it: external data resolves in a folder holding only this file.
                let path = try Self.scratchFile(bytes, name: fileName)
                defer { unlink(path) }
                let loaded = try ModelLoader.load(path: path)
                var summary = try ModelSummary(loaded)
                summary.planMemory(loaded.model, batch: 1, memoryLimit: 1 << 29)
            case .resin:
                guard let mode = bytes.first else { return "empty input" }
                // The reader maps a path: the bytes go to a private file first, as a model on disk would be.
                let path = try Self.scratchFile(UnsafeRawBufferPointer(rebasing: bytes.dropFirst()), name: fileName)
                defer { unlink(path) }
                let (model, _) = try NativeReader.read(path: path, verifyWeights: mode & 1 != 0)
                // Touch every weight byte, so storage that points outside the file or the decoded blobs is read.
                var sum: UInt8 = 0
                for tensor in model.graph.initializers { for byte in tensor.storage.bytes { sum &+= byte } }
                _ = try model.graph.inferFacts()
                blackHole(sum)
            case .npy:
                let tensor = try NumpyFormat.decode(bytes, file: fileName)
                blackHole(tensor.storage.bytes.reduce(0, &+))
            case .pb:
                let tensor = try TensorProtoCoding.decode(bytes, file: fileName)
                blackHole(tensor.storage.bytes.reduce(0, &+))
            case .jpeg, .png:
                // The decoder goes by content, so either target reaches both decoders; the seeds keep each on its own.
                let image = try ImageDecoder.decode(bytes, file: fileName, maximumRGBBytes: 1 << 24)
                let recipe = PreprocessingRecipe.imagenet
                var values = [Float](repeating: 0, count: recipe.valuesPerImage)
                values.withUnsafeMutableBufferPointer { recipe.apply(to: image, into: $0) }
                blackHole(values.reduce(0, +))
            }
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// Writes `bytes` to `name` in a folder of this process's own (in memory where /dev/shm exists). Not
    /// flushed to disk: the file lives for one input.
    static func scratchFile(_ bytes: UnsafeRawBufferPointer, name: String) throws -> String {
        let folder = (access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") + "/resin-fuzz-\(getpid())"
        mkdir(folder, 0o700)
        let path = folder + "/" + name
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw FileError(path: path, reason: "cannot create the fuzz input file") }
        defer { close(descriptor) }
        var done = 0
        while done < bytes.count {
            let count = write(descriptor, bytes.baseAddress! + done, bytes.count - done)
            guard count > 0 else { throw FileError(path: path, reason: "cannot write the fuzz input file") }
            done += count
        }
        return path
    }
}

/// Keeps a computed value alive so the optimizer cannot drop the reads that produced it.
@inline(never)
func blackHole<T>(_ value: T) { withExtendedLifetime(value) {} }
