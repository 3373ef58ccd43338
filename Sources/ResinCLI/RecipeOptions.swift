import ArgumentParser
import ResinImage

/// The preprocessing options commands that take images share (`preprocess`, `run --image`, `convert`): each
/// one given replaces that part of the recipe the model stores, or of torchvision's ImageNet recipe.
struct RecipeOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Resize the shorter side to N pixels (default 256).", valueName: "N"))
    var resize: Int?

    @Option(help: ArgumentHelp("Center crop to H x W pixels, or N x N (default 224).", valueName: "HxW|N"))
    var crop: String?

    @Option(help: ArgumentHelp("Per-channel means in [0, 1] units, R,G,B order (default 0.485,0.456,0.406).", valueName: "R,G,B"))
    var mean: String?

    @Option(help: ArgumentHelp("Per-channel standard deviations, R,G,B order (default 0.229,0.224,0.225).", valueName: "R,G,B"))
    var std: String?

    @Option(help: ArgumentHelp("The tensor's channel order (default rgb).", valueName: "rgb|bgr"))
    var channelOrder: String?

    @Option(help: ArgumentHelp("The tensor's layout: nchw or nhwc for TensorFlow models (default nchw).", valueName: "nchw|nhwc"))
    var layout: String?

    /// Whether any recipe option was given.
    var isEmpty: Bool {
        resize == nil && crop == nil && mean == nil && std == nil && channelOrder == nil && layout == nil
    }

    /// The recipe: `stored` (a model's, or torchvision's ImageNet recipe when nil) with the options given
    /// replacing its parts. Throws a `ValidationError` naming the option when a value is malformed or the
    /// recipe cannot be applied.
    func recipe(stored: PreprocessingRecipe?) throws -> PreprocessingRecipe {
        var recipe = stored ?? .imagenet
        if let resize { recipe.resize = resize }
        if let crop { (recipe.cropHeight, recipe.cropWidth) = try Self.parseCrop(crop) }
        if let mean { recipe.mean = try Self.parseTriple(mean, option: "--mean") }
        if let std { recipe.std = try Self.parseTriple(std, option: "--std") }
        if let channelOrder {
            recipe.channelOrder = try Self.parseChoice(channelOrder, option: "--channel-order")
        }
        if let layout { recipe.layout = try Self.parseChoice(layout, option: "--layout") }
        do {
            try recipe.validate()
        } catch {
            throw ValidationError(error.message)
        }
        return recipe
    }

    /// `HxW` (`224x192`) or one size for both sides.
    static func parseCrop(_ text: String) throws -> (height: Int, width: Int) {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
        let sizes = parts.compactMap { Int($0) }
        guard sizes.count == parts.count, sizes.count == 1 || sizes.count == 2 else {
            throw ValidationError("--crop takes HxW or N (224x192, 224), not '\(text)'")
        }
        return (sizes[0], sizes.last!)
    }

    /// Three comma-separated numbers.
    static func parseTriple(_ text: String, option: String) throws -> [Float] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        let values = parts.compactMap { Float($0.trimmingPrefix(" ")) }
        guard parts.count == 3, values.count == 3 else {
            throw ValidationError("\(option) takes three comma-separated numbers, R,G,B (0.485,0.456,0.406), not '\(text)'")
        }
        return values
    }

    static func parseChoice<Choice: RawRepresentable & CaseIterable>(_ text: String, option: String) throws -> Choice
    where Choice.RawValue == String {
        guard let value = Choice(rawValue: text.lowercased()) else {
            let names = Choice.allCases.map(\.rawValue).joined(separator: " or ")
            throw ValidationError("\(option) takes \(names), not '\(text)'")
        }
        return value
    }

    func validate() throws {
        // Parse now so that a malformed value is a usage error before any file is read.
        _ = try recipe(stored: nil)
    }
}
