/// How an image becomes a model's input: resize the shorter side, crop the center, scale to [0, 1],
/// normalize per channel, then lay the values out as the model expects. The default, `imagenet`, is
/// torchvision's ImageNet evaluation transform.
package struct PreprocessingRecipe: Sendable, Equatable {
    /// The order of the three channels in the tensor.
    package enum ChannelOrder: String, Sendable, CaseIterable {
        /// Red, green, blue (PyTorch models).
        case rgb
        /// Blue, green, red (models trained on OpenCV's images).
        case bgr
    }

    /// Where the channels sit in the tensor.
    package enum Layout: String, Sendable, CaseIterable {
        /// `[batch, 3, height, width]` (PyTorch, ONNX).
        case nchw
        /// `[batch, height, width, 3]` (TensorFlow).
        case nhwc
    }

    /// The length the shorter side is resized to (torchvision's `Resize(int)`); the longer side keeps the
    /// aspect ratio, truncated.
    package var resize: Int
    /// The height of the center crop.
    package var cropHeight: Int
    /// The width of the center crop.
    package var cropWidth: Int
    /// Three per-channel means in [0, 1] units, in R, G, B order whatever `channelOrder` is.
    package var mean: [Float]
    /// Three per-channel standard deviations, in R, G, B order.
    package var std: [Float]
    /// The channel order written.
    package var channelOrder: ChannelOrder
    /// The layout written.
    package var layout: Layout

    /// A recipe from its parts; `validate()` says whether it can be applied.
    package init(
        resize: Int, cropHeight: Int, cropWidth: Int, mean: [Float], std: [Float],
        channelOrder: ChannelOrder = .rgb, layout: Layout = .nchw
    ) {
        self.resize = resize
        self.cropHeight = cropHeight
        self.cropWidth = cropWidth
        self.mean = mean
        self.std = std
        self.channelOrder = channelOrder
        self.layout = layout
    }

    /// torchvision's ImageNet evaluation recipe: `Resize(256)`, `CenterCrop(224)`, `ToTensor()`,
    /// `Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])`, RGB, NCHW.
    package static let imagenet = PreprocessingRecipe(
        resize: 256, cropHeight: 224, cropWidth: 224,
        mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])

    /// The metadata key (ONNX `metadata_props`, kept by `.resin`) whose value is `metadataValue`.
    package static let metadataKey = "resin.preprocess"

    /// Floats one image fills: `3 * cropHeight * cropWidth`.
    package var valuesPerImage: Int { 3 * cropHeight * cropWidth }

    /// The input shape for `batch` images: `[batch, 3, height, width]` or `[batch, height, width, 3]`.
    package func inputShape(batch: Int) -> [Int] {
        switch layout {
        case .nchw: [batch, 3, cropHeight, cropWidth]
        case .nhwc: [batch, cropHeight, cropWidth, 3]
        }
    }

    /// The largest resize or crop side accepted: larger ones are typing errors, and would allocate without bound.
    package static let maximumSide = 16384

    /// Throws when a value cannot be applied: sizes outside 1...maximumSide, not three means and standard
    /// deviations, a standard deviation that is zero or not finite, a mean that is not finite.
    package func validate() throws(ImageError) {
        func fail(_ message: String) -> ImageError { ImageError(file: nil, message: "bad preprocessing recipe: \(message)") }
        for (name, value) in [("resize", resize), ("crop height", cropHeight), ("crop width", cropWidth)] {
            guard (1...Self.maximumSide).contains(value) else {
                throw fail("\(name) \(value) is outside 1...\(Self.maximumSide)")
            }
        }
        guard mean.count == 3 else { throw fail("mean needs 3 values, one per channel, not \(mean.count)") }
        guard std.count == 3 else { throw fail("std needs 3 values, one per channel, not \(std.count)") }
        guard mean.allSatisfy(\.isFinite) else { throw fail("mean \(mean) is not finite") }
        guard std.allSatisfy({ $0.isFinite && $0 != 0 }) else { throw fail("std \(std) must be finite and non-zero") }
    }
}
