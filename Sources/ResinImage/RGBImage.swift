/// A decoded image: 8-bit samples, rows top to bottom, each pixel R, G, B interleaved, with the file's EXIF
/// orientation already applied (so `width` and `height` are as the image is meant to be seen).
package struct RGBImage: Sendable, Equatable {
    /// Pixels per row.
    package var width: Int
    /// Rows.
    package var height: Int
    /// `height * width * 3` samples.
    package var pixels: [UInt8]

    /// An image of the given size and samples; `pixels.count` must be `width * height * 3`.
    package init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height * 3, "RGBImage: pixels do not fill \(width)x\(height)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}
