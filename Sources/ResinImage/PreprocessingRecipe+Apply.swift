/// Applying a recipe: torchvision's `Resize(resize)`, `CenterCrop((cropHeight, cropWidth))`, `ToTensor()`
/// and `Normalize(mean, std)` on a PIL image, computing only the resized pixels the crop keeps.
extension PreprocessingRecipe {
    /// The size torchvision's `Resize(resize)` gives an image of `width` x `height`: the shorter side
    /// becomes `resize`, the longer `int(resize * long / short)` (Python's float division, truncated).
    package func resizedSize(width: Int, height: Int) -> (width: Int, height: Int) {
        let short = min(width, height), long = max(width, height)
        let longSide = Int(Double(resize * long) / Double(short))
        return width <= height ? (resize, longSide) : (longSide, resize)
    }

    /// Where torchvision's `CenterCrop` puts a crop of `crop` samples on an axis of `size`: the offset of the
    /// crop's first sample in the image (negative when the image is zero-padded to the crop).
    /// Larger images: `round((size - crop) / 2)`, ties to even as Python's `round`; smaller ones are padded with
    /// `(crop - size) // 2` zeros before and the rest after.
    package static func centerCropOffset(size: Int, crop: Int) -> Int {
        if size < crop { return -((crop - size) / 2) }
        let difference = size - crop
        let half = difference / 2
        return difference % 2 == 0 || half % 2 == 0 ? half : half + 1
    }

    /// Resizes (Pillow's antialiased bilinear, exact), center-crops as torchvision, scales to [0,1],
    /// normalizes, and writes valuesPerImage floats in `layout`/`channelOrder`.
    ///
    /// The recipe must be valid (`validate()`) and `output` hold exactly `valuesPerImage` floats.
    package func apply(to image: RGBImage, into output: UnsafeMutableBufferPointer<Float>) {
        precondition(
            (1...Self.maximumSide).contains(resize) && (1...Self.maximumSide).contains(cropHeight)
                && (1...Self.maximumSide).contains(cropWidth) && mean.count == 3 && std.count == 3,
            "apply: the recipe was not validated")
        precondition(output.count == valuesPerImage, "apply: output holds \(output.count) floats, not \(valuesPerImage)")
        precondition(image.width > 0 && image.height > 0, "apply: empty image")
        let resized = resizedSize(width: image.width, height: image.height)
        let left = Self.centerCropOffset(size: resized.width, crop: cropWidth)
        let top = Self.centerCropOffset(size: resized.height, crop: cropHeight)
        // The resized columns and rows the crop keeps.
        let columns = max(left, 0)..<min(left + cropWidth, resized.width)
        let rows = max(top, 0)..<min(top + cropHeight, resized.height)
        let kept = resample(image, to: resized, columns: columns, rows: rows)
        write(kept, columns: columns.count, at: (x: columns.lowerBound - left, y: rows.lowerBound - top), into: output)
    }

    /// The `columns` x `rows` window of `image` resized to `size`, as RGB rows of `columns.count` pixels.
    /// A pass whose axis keeps its size is skipped, as Pillow skips it (its taps would be the identity anyway).
    private func resample(
        _ image: RGBImage, to size: (width: Int, height: Int), columns: Range<Int>, rows: Range<Int>
    ) -> [UInt8] {
        let horizontal = size.width == image.width
            ? nil : PillowResample.Axis(inputSize: image.width, outputSize: size.width, window: columns)
        let vertical = size.height == image.height
            ? nil : PillowResample.Axis(inputSize: image.height, outputSize: size.height, window: rows)
        // The source rows the vertical pass reads (or the kept rows themselves when there is none).
        let sourceRows = vertical?.sourceRange ?? rows
        var widened: [UInt8]
        if let horizontal {
            widened = [UInt8](repeating: 0, count: sourceRows.count * columns.count * 3)
            image.pixels.withUnsafeBufferPointer { source in
                widened.withUnsafeMutableBufferPointer { target in
                    PillowResample.horizontal(source, sourceWidth: image.width, rows: sourceRows, axis: horizontal, into: target)
                }
            }
        } else {
            widened = []
            widened.reserveCapacity(sourceRows.count * columns.count * 3)
            for row in sourceRows {
                let start = (row * image.width + columns.lowerBound) * 3
                widened.append(contentsOf: image.pixels[start..<start + columns.count * 3])
            }
        }
        guard let vertical else { return widened }
        var result = [UInt8](repeating: 0, count: rows.count * columns.count * 3)
        widened.withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { target in
                PillowResample.vertical(
                    source, width: columns.count, firstSourceRow: sourceRows.lowerBound, axis: vertical, into: target)
            }
        }
        return result
    }

    /// Writes the crop: `pixels` (rows of `columns` RGB pixels) placed at `origin` in the crop, zero padding
    /// elsewhere, each sample as `(sample / 255 - mean) / std` in `Float` as torchvision computes it.
    private func write(
        _ pixels: [UInt8], columns: Int, at origin: (x: Int, y: Int), into output: UnsafeMutableBufferPointer<Float>
    ) {
        // One table per channel: the 256 values a sample can become, each computed exactly as torchvision does.
        var table = [Float](repeating: 0, count: 3 * 256)
        for channel in 0..<3 {
            for sample in 0..<256 {
                table[channel * 256 + sample] = (Float(sample) / 255 - mean[channel]) / std[channel]
            }
        }
        let rows = columns == 0 ? 0 : pixels.count / (columns * 3)
        let plane = cropHeight * cropWidth
        // Where source channel c goes in a pixel: R, G, B or reversed.
        let channelSlot = channelOrder == .rgb ? [0, 1, 2] : [2, 1, 0]
        let (channelStride, pixelStride) = layout == .nchw ? (plane, 1) : (1, 3)
        table.withUnsafeBufferPointer { table in
            pixels.withUnsafeBufferPointer { pixels in
                // Padding first (only when the image is smaller than the crop), then the image over it.
                if rows < cropHeight || columns < cropWidth {
                    for channel in 0..<3 {
                        let value = table[channel * 256]
                        let base = channelSlot[channel] * channelStride
                        for index in 0..<plane { output[base + index * pixelStride] = value }
                    }
                }
                for channel in 0..<3 {
                    let channelTable = table.baseAddress! + channel * 256
                    let base = channelSlot[channel] * channelStride
                    for row in 0..<rows {
                        let source = pixels.baseAddress! + row * columns * 3 + channel
                        let targetIndex = base + ((origin.y + row) * cropWidth + origin.x) * pixelStride
                        let target = output.baseAddress! + targetIndex
                        for column in 0..<columns {
                            target[column * pixelStride] = channelTable[Int(source[column * 3])]
                        }
                    }
                }
            }
        }
    }
}
