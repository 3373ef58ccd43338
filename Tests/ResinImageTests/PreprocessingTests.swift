import Testing
import TestSupport
@testable import ResinImage

/// `PreprocessingRecipe.apply` against torchvision (`Resize`, `CenterCrop`, `ToTensor`, `Normalize` on the
/// PIL image Pillow decodes): within the acceptance bounds, and in fact bit for bit, since the resize is
/// Pillow's arithmetic and the normalization torchvision's float32 steps.
@Suite struct PreprocessingTests {
    static let cases: [(String, String)] = ImageFixtures.images.flatMap { name in
        ImageFixtures.recipes.keys.sorted().map { (name, $0) }
    }

    @Test(arguments: cases)
    func equalsTorchvision(name: String, recipeName: String) throws {
        let recipe = try #require(ImageFixtures.recipes[recipeName])
        let image = try ImageDecoder.decode(file: ImageFixtures.path(name))
        let reference = try ImageFixtures.reference(name, recipeName)
        #expect(reference.shape == recipe.inputShape(batch: 1))
        let expected = reference.floatValues
        var values = [Float](repeating: .nan, count: recipe.valuesPerImage)
        values.withUnsafeMutableBufferPointer { recipe.apply(to: image, into: $0) }
        try #require(values.count == expected.count)

        // The acceptance bounds, in pixel units before normalization: within 1/255 on at least 99.9% of the
        // values, within 2/255 everywhere.
        let plane = recipe.cropHeight * recipe.cropWidth
        var within1 = 0, worst: Float = 0, identical = 0
        for index in values.indices {
            // Which R, G, B channel the value belongs to, for its std.
            let slot = recipe.layout == .nchw ? index / plane : index % 3
            let channel = recipe.channelOrder == .rgb ? slot : 2 - slot
            let pixels = abs(values[index] - expected[index]) * recipe.std[channel] * 255
            worst = max(worst, pixels)
            if pixels <= 1.0001 { within1 += 1 }
            if values[index].bitPattern == expected[index].bitPattern { identical += 1 }
        }
        #expect(worst <= 2.0001, "worst difference \(worst) pixel units")
        #expect(Double(within1) >= 0.999 * Double(values.count))
        #expect(identical == values.count, "\(values.count - identical) of \(values.count) values differ from torchvision's (worst \(worst) pixel units)")
    }

    /// torchvision's `CenterCrop`: `round((size - crop) / 2)` with Python's ties to even, and padding of
    /// `(crop - size) // 2` before when the image is smaller.
    @Test(arguments: [
        (10, 4, 3), (9, 4, 2), (7, 2, 2), (5, 2, 2), (9, 2, 4), (11, 2, 4), (13, 2, 6), (8, 8, 0), (256, 224, 16),
        (3, 2, 0), (4, 1, 2), (6, 1, 2), (2, 5, -1), (3, 6, -1), (3, 7, -2), (1, 224, -111),
    ] as [(Int, Int, Int)])
    func centerCropOffset(size: Int, crop: Int, expected: Int) {
        #expect(PreprocessingRecipe.centerCropOffset(size: size, crop: crop) == expected)
    }

    /// torchvision's `Resize(int)`: the shorter side to `resize`, the longer `int(resize * long / short)`.
    @Test(arguments: [
        (500, 375, 341, 256), (375, 500, 256, 341), (1, 1, 256, 256), (3, 500, 256, 42666), (257, 255, 258, 256),
        (224, 224, 256, 256), (640, 427, 383, 256),
    ] as [(Int, Int, Int, Int)])
    func resizedSize(width: Int, height: Int, expectedWidth: Int, expectedHeight: Int) {
        let size = PreprocessingRecipe.imagenet.resizedSize(width: width, height: height)
        #expect(size.width == expectedWidth && size.height == expectedHeight)
    }

    /// An image smaller than the crop on both sides: the border is the normalized value of a zero pixel, the
    /// middle the image, placed `(crop - size) // 2` from the top left.
    @Test func paddingBothSides() throws {
        // 2x2 image, resize 2 (no resampling at all), crop 5x4: rows 1...2, columns 1...2 hold the image.
        let image = RGBImage(width: 2, height: 2, pixels: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120])
        let recipe = PreprocessingRecipe(resize: 2, cropHeight: 5, cropWidth: 4, mean: [0.5, 0.25, 0], std: [0.5, 0.5, 1])
        var values = [Float](repeating: .nan, count: recipe.valuesPerImage)
        values.withUnsafeMutableBufferPointer { recipe.apply(to: image, into: $0) }
        for channel in 0..<3 {
            for row in 0..<5 {
                for column in 0..<4 {
                    let inside = (1...2).contains(row) && (1...2).contains(column)
                    let sample = inside ? image.pixels[((row - 1) * 2 + column - 1) * 3 + channel] : 0
                    let expected = (Float(sample) / 255 - recipe.mean[channel]) / recipe.std[channel]
                    #expect(values[(channel * 5 + row) * 4 + column] == expected, "channel \(channel) row \(row) column \(column)")
                }
            }
        }
    }

    /// NHWC and BGR only move values: the same recipe in another layout or order holds the same values.
    @Test func layoutAndOrderMoveValues() throws {
        let image = try ImageDecoder.decode(file: ImageFixtures.path("rgb8.png"))
        let base = PreprocessingRecipe.imagenet
        var values: [[Float]] = []
        for (order, layout) in [(PreprocessingRecipe.ChannelOrder.rgb, PreprocessingRecipe.Layout.nchw), (.bgr, .nhwc)] {
            var recipe = base
            recipe.channelOrder = order
            recipe.layout = layout
            var output = [Float](repeating: .nan, count: recipe.valuesPerImage)
            output.withUnsafeMutableBufferPointer { recipe.apply(to: image, into: $0) }
            values.append(output)
        }
        let plane = 224 * 224
        var mismatches = 0
        for channel in 0..<3 {
            for pixel in 0..<plane where values[0][channel * plane + pixel] != values[1][pixel * 3 + 2 - channel] {
                mismatches += 1
            }
        }
        #expect(mismatches == 0)
    }

    @Test func imagenetRecipe() {
        let recipe = PreprocessingRecipe.imagenet
        #expect(recipe.inputShape(batch: 8) == [8, 3, 224, 224])
        #expect(recipe.valuesPerImage == 150_528)
        var nhwc = recipe
        nhwc.layout = .nhwc
        #expect(nhwc.inputShape(batch: 2) == [2, 224, 224, 3])
    }
}
