import Testing
@testable import ResinImage

/// The recipe's metadata value (`resin.preprocess`) reads back as the same recipe, and bad values are refused
/// with a message naming the key.
@Suite struct RecipeMetadataTests {
    static let recipes: [PreprocessingRecipe] = [
        .imagenet,
        PreprocessingRecipe(
            resize: 320, cropHeight: 299, cropWidth: 288, mean: [0.5, 0.5, 0.5], std: [0.5, 0.25, 1.0 / 3],
            channelOrder: .bgr, layout: .nhwc),
    ]

    @Test(arguments: recipes)
    func roundTrip(recipe: PreprocessingRecipe) throws {
        let read = try PreprocessingRecipe(metadataValue: recipe.metadataValue)
        #expect(read == recipe)
    }

    @Test func imagenetValue() {
        #expect(PreprocessingRecipe.imagenet.metadataValue == """
            {"resize": 256, "crop_height": 224, "crop_width": 224, "mean": [0.485, 0.456, 0.406], \
            "std": [0.229, 0.224, 0.225], "channel_order": "rgb", "layout": "nchw"}
            """)
    }

    static let badValues: [(String, String)] = [
        ("", "expected '{'"),
        ("{\"resize\": 256}", "\"crop_height\" must be an integer"),
        ("[1, 2]", "expected '{'"),
        (PreprocessingRecipe.imagenet.metadataValue.replacingFirst("\"nchw\"", "\"nchw\", \"scale\": 2"), "unknown key \"scale\""),
        (PreprocessingRecipe.imagenet.metadataValue.replacingFirst("256", "-3"), "resize -3 is outside"),
        (PreprocessingRecipe.imagenet.metadataValue.replacingFirst("256", "2.5"), "\"resize\" must be an integer, not 2.5"),
        (PreprocessingRecipe.imagenet.metadataValue.replacingFirst("0.229, ", ""), "std needs 3 values"),
        (PreprocessingRecipe.imagenet.metadataValue.replacingFirst("0.229", "0"), "must be finite and non-zero"),
        (PreprocessingRecipe.imagenet.metadataValue.replacingFirst("\"rgb\"", "\"rbg\""), "\"channel_order\" must be one of rgb, bgr"),
        (PreprocessingRecipe.imagenet.metadataValue.replacingFirst("\"nchw\"", "\"chw\""), "\"layout\" must be one of nchw, nhwc"),
        (PreprocessingRecipe.imagenet.metadataValue + "x", "text after the object"),
        (PreprocessingRecipe.imagenet.metadataValue.replacingFirst("\"resize\": 256, ", "\"resize\": 256, \"resize\": 256, "), "appears twice"),
    ]

    @Test(arguments: badValues)
    func badValue(value: String, expected: String) {
        #expect {
            _ = try PreprocessingRecipe(metadataValue: value)
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("bad resin.preprocess metadata: ") && text.contains(expected)
        }
    }
}

extension String {
    /// The string with the first occurrence of `target` replaced; a test's edit that does not apply is a bug in
    /// the test, so it stops there.
    func replacingFirst(_ target: String, _ replacement: String) -> String {
        guard let range = firstRange(of: target) else { fatalError("\(target) is not in \(self)") }
        var copy = self
        copy.replaceSubrange(range, with: replacement)
        return copy
    }
}

extension PreprocessingRecipe: CustomTestStringConvertible {
    public var testDescription: String { metadataValue }
}
