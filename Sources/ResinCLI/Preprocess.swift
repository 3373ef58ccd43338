import ArgumentParser
import Resin
import ResinIR
import ResinImage

/// `resin preprocess IMAGE...`: the tensor `run --image` would feed the model, or the decoded pixels, as a
/// `.npy` file, so that the decoding and the recipe can be checked against other tools.
struct Preprocess: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode and preprocess images (JPEG, PNG) into the input tensor a model takes, written as .npy.")

    @Argument(help: "The images, in batch order.")
    var images: [String]

    @Option(help: ArgumentHelp("The tensor file to write (.npy): float32 [n,3,h,w] (or [n,h,w,3] with --layout nhwc).", valueName: "FILE"))
    var output: String

    @Flag(help: "Write one image's decoded pixels instead, as uint8 [height,width,3] (orientation applied).")
    var decoded = false

    @Option(help: ArgumentHelp("Start from the recipe stored in this model (.onnx or .resin) rather than the ImageNet one.", valueName: "MODEL"))
    var model: String?

    @OptionGroup var recipeOptions: RecipeOptions

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("give at least one image") }
        if decoded {
            guard images.count == 1 else { throw ValidationError("--decoded writes one image; \(images.count) were given") }
            guard model == nil && recipeOptions.isEmpty else {
                throw ValidationError("--decoded writes the pixels before any preprocessing; drop --model and the recipe options")
            }
        }
    }

    func run() throws {
        if decoded {
            let image = try reportingErrors(about: images[0]) { try ImageDecoder.decode(file: images[0]) }
            let tensor = ResinIR.Tensor(
                name: nil, dataType: .uint8, shape: [image.height, image.width, 3],
                storage: TensorStorage(bytes: image.pixels))
            try reportingErrors(about: output) { try TensorFile.write(tensor, to: output) }
            return
        }
        let stored = try model.map { path in try reportingErrors(about: path) { try Self.storedRecipe(path) } }
        let recipe = try recipeOptions.recipe(stored: stored)
        let count = recipe.valuesPerImage
        let storage = try TensorStorage(byteCount: images.count * count * 4) { bytes in
            let values = bytes.bindMemory(to: Float.self)
            for (index, path) in images.enumerated() {
                let image = try reportingErrors(about: path) { try ImageDecoder.decode(file: path) }
                recipe.apply(to: image, into: UnsafeMutableBufferPointer(rebasing: values[index * count..<(index + 1) * count]))
            }
        }
        let tensor = ResinIR.Tensor(name: nil, dataType: .float, shape: recipe.inputShape(batch: images.count), storage: storage)
        try reportingErrors(about: output) { try TensorFile.write(tensor, to: output) }
    }

    /// The recipe a model stores under `resin.preprocess`; a model without one is an error, since guessing
    /// would hide that the model was converted without it.
    static func storedRecipe(_ path: String) throws -> PreprocessingRecipe {
        let loaded = try ModelLoader.load(path: path)
        guard let value = loaded.model.metadata.first(where: { $0.key == PreprocessingRecipe.metadataKey })?.value else {
            throw LoadError(path: path, reason: "the model stores no preprocessing recipe (\(PreprocessingRecipe.metadataKey)); convert it with --preprocess, or give the recipe options without --model")
        }
        do {
            return try PreprocessingRecipe(metadataValue: value)
        } catch {
            throw LoadError(path: path, reason: error.message)
        }
    }
}
