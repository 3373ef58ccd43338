import ArgumentParser
import Resin
import ResinImage
import ResinIR

/// `resin convert --preprocess imagenet [recipe options] --labels FILE`: what a converted classifier keeps
/// about its images, so that `resin run MODEL --image cat.jpg` needs no more options.
struct ConvertImageOptions: ParsableArguments {
    /// The recipes `--preprocess` names.
    enum Preset: String, CaseIterable, ExpressibleByArgument {
        case imagenet
    }

    @Option(help: ArgumentHelp(
        "Store a preprocessing recipe (metadata resin.preprocess): imagenet is torchvision's, which the recipe options below change.",
        valueName: "RECIPE"))
    var preprocess: Preset?

    @OptionGroup var recipe: RecipeOptions

    @Option(help: ArgumentHelp("Store class names, one per line, line i naming class i (metadata resin.labels).", valueName: "FILE"))
    var labels: String?

    func validate() throws {
        if preprocess == nil, !recipe.isEmpty {
            throw ValidationError("--resize, --crop, --mean, --std, --channel-order and --layout change the recipe --preprocess stores; give --preprocess imagenet with them")
        }
    }

    /// Sets the model's `resin.preprocess` and `resin.labels` metadata as the options say, replacing any
    /// stored before and keeping every other entry in place. Metadata lives in the model itself (ONNX
    /// `metadata_props`, which the native format keeps in its graph section), so it survives .onnx to
    /// .resin to .onnx.
    func store(in model: inout ResinIR.Model, path: String) throws {
        if preprocess != nil {
            let value = try recipe.recipe(stored: nil).metadataValue
            set(PreprocessingRecipe.metadataKey, to: value, in: &model)
        }
        guard let labels else { return }
        let names = try reportingErrors(about: labels) { try ClassLabels.read(file: labels) }
        // The classifier's width when its first output declares one ([N, C] or [N, C, 1, 1]): a list of
        // another length would name the wrong classes.
        if let output = model.graph.outputs.first.map(TensorInfo.init), let shape = output.shape,
           shape.count == 2 || shape.count == 4, let classes = shape[1].value, classes != names.count {
            printError("\(labels): has \(names.count) class names, but \(path)'s output '\(output.name)' has \(classes) classes")
            throw Exit.badInput
        }
        set(ClassLabels.metadataKey, to: ClassLabels.metadataValue(names), in: &model)
    }

    private func set(_ key: String, to value: String, in model: inout ResinIR.Model) {
        // In the place of the first entry with the key, so a re-conversion keeps the entries' order.
        let index = model.metadata.firstIndex { $0.key == key } ?? model.metadata.endIndex
        model.metadata.removeAll { $0.key == key }
        model.metadata.insert(StringPair(key: key, value: value), at: min(index, model.metadata.count))
    }
}
