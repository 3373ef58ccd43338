import Foundation
import Resin
import ResinIR
import ResinONNX
import Testing
import TestSupport
@testable import ResinImage

/// `resin preprocess`: the decoded pixels and the preprocessed batch it writes equal Pillow's and
/// torchvision's, a model's stored recipe is used, and bad input exits 2 naming the file.
@Suite struct PreprocessCommandTests {
    @Test func decodedPixels() throws {
        let folder = try TemporaryFolder()
        let output = folder.file("pixels.npy")
        let result = try runResin(["preprocess", "--decoded", ImageFixtures.path("exif-6.jpg"), "--output", output])
        #expect(result.status == 0, "\(result.standardError)")
        let written = try TensorFile.read(path: output)
        let reference = try ImageFixtures.reference("exif-6.jpg", "decoded")
        #expect(written.dataType == .uint8 && written.shape == reference.shape)
        #expect(written.uint8Values == reference.uint8Values)
    }

    /// Two images in one batch, with every recipe option, against torchvision's tensors for that recipe.
    @Test func batchWithOptions() throws {
        let folder = try TemporaryFolder()
        let output = folder.file("batch.npy")
        let names = ["baseline-420.jpg", "palette8-trns.png"]
        let result = try runResin(["preprocess"] + names.map(ImageFixtures.path) + [
            "--output", output, "--resize", "30", "--crop", "15x17", "--mean", "0.485,0.456,0.406",
            "--std", "0.229,0.224,0.225", "--channel-order", "bgr", "--layout", "nhwc",
        ])
        #expect(result.status == 0, "\(result.standardError)")
        let written = try TensorFile.read(path: output)
        #expect(written.dataType == .float && written.shape == [2, 15, 17, 3])
        let expected = try names.flatMap { try ImageFixtures.reference($0, "up").floatValues }
        #expect(written.floatValues == expected)
    }

    /// `--model` takes the recipe the model stores (here the "padded" one), and options still override it.
    @Test func storedRecipe() throws {
        let folder = try TemporaryFolder()
        var loaded = try ModelLoader.load(path: TestPaths.model("quirk-sum"))
        let padded = try #require(ImageFixtures.recipes["padded"])
        loaded.model.metadata.append(StringPair(key: PreprocessingRecipe.metadataKey, value: padded.metadataValue))
        let model = folder.file("with-recipe.onnx")
        try ONNXExporter.write(loaded.model, toPath: model)

        let output = folder.file("stored.npy")
        let result = try runResin(["preprocess", ImageFixtures.path("rgb16.png"), "--model", model, "--output", output])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(try TensorFile.read(path: output).floatValues == ImageFixtures.reference("rgb16.png", "padded").floatValues)

        let overridden = try runResin(["preprocess", ImageFixtures.path("rgb16.png"), "--model", model, "--crop", "4", "--output", output])
        #expect(overridden.status == 0, "\(overridden.standardError)")
        #expect(try TensorFile.read(path: output).shape == [1, 3, 4, 4])
    }

    @Test func modelWithoutRecipe() throws {
        let folder = try TemporaryFolder()
        let model = TestPaths.model("quirk-sum")
        let result = try runResin(["preprocess", ImageFixtures.path("rgb8.png"), "--model", model, "--output", folder.file("x.npy")])
        #expect(result.status == 2 && !result.crashed)
        #expect(result.standardError.contains("error: \(model): the model stores no preprocessing recipe (resin.preprocess)"))
    }

    /// A broken image among good ones stops the command with exit 2 and the broken file's name; no output
    /// file is left behind.
    @Test(arguments: ImageFixtures.broken)
    func brokenImage(name: String) throws {
        let folder = try TemporaryFolder()
        let output = folder.file("out.npy")
        let path = ImageFixtures.path(name)
        let result = try runResin(["preprocess", ImageFixtures.path("rgb8.png"), path, "--output", output])
        #expect(result.status == 2 && !result.crashed)
        #expect(result.standardError.hasPrefix("error: \(path): "), "\(result.standardError)")
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    @Test(arguments: [
        (["--crop", "224x"], "--crop takes HxW or N"),
        (["--mean", "0.5,0.5"], "--mean takes three comma-separated numbers"),
        (["--std", "1,0,1"], "std [1.0, 0.0, 1.0] must be finite and non-zero"),
        (["--layout", "chw"], "--layout takes nchw or nhwc, not 'chw'"),
        (["--resize", "0"], "resize 0 is outside 1...16384"),
        (["--decoded", "--resize", "10"], "--decoded writes the pixels before any preprocessing"),
    ] as [([String], String)])
    func badOptions(options: [String], message: String) throws {
        let result = try runResin(["preprocess", ImageFixtures.path("rgb8.png"), "--output", "/tmp/unused.npy"] + options)
        #expect(result.status == 64 && result.standardError.contains(message), "\(result.standardError)")
    }
}
