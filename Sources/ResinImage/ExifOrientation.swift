/// The EXIF orientation tag (IFD0, tag 0x0112) and the transposition that shows the image upright, as
/// Pillow's `ImageOps.exif_transpose` applies it.
enum ExifOrientation: Int, Sendable {
    /// 1: already upright.
    case identity = 1
    /// 2: mirrored left to right.
    case mirrored = 2
    /// 3: turned half a turn.
    case rotated180 = 3
    /// 4: mirrored top to bottom.
    case flipped = 4
    /// 5: mirrored along the main diagonal (Pillow's TRANSPOSE).
    case transposed = 5
    /// 6: to be turned a quarter turn clockwise (Pillow's ROTATE_270).
    case rotatedClockwise = 6
    /// 7: mirrored along the other diagonal (Pillow's TRANSVERSE).
    case transversed = 7
    /// 8: to be turned a quarter turn counter-clockwise (Pillow's ROTATE_90).
    case rotatedCounterClockwise = 8

    /// The orientation an EXIF block (starting at its TIFF header, either byte order) gives; anything
    /// malformed, missing or outside 1...8 leaves the image as it is, as Pillow does.
    init(exif: UnsafeRawBufferPointer) {
        self = Self.tagValue(exif).flatMap { Self(rawValue: $0) } ?? .identity
    }

    private static func tagValue(_ exif: UnsafeRawBufferPointer) -> Int? {
        guard exif.count >= 8 else { return nil }
        let bigEndian: Bool
        switch (exif[0], exif[1], exif[2], exif[3]) {
        case (0x49, 0x49, 0x2A, 0x00): bigEndian = false
        case (0x4D, 0x4D, 0x00, 0x2A): bigEndian = true
        default: return nil
        }
        func read(_ offset: Int, _ size: Int) -> Int? {
            guard offset >= 0, offset + size <= exif.count else { return nil }
            var value = 0
            for index in 0..<size {
                let byte = Int(exif[offset + (bigEndian ? index : size - 1 - index)])
                value = value << 8 | byte
            }
            return value
        }
        guard let directory = read(4, 4), let entries = read(directory, 2) else { return nil }
        for entry in 0..<entries {
            let at = directory + 2 + 12 * entry
            guard let tag = read(at, 2), let type = read(at + 2, 2), let count = read(at + 4, 4) else { return nil }
            guard tag == 0x0112 else { continue }
            // SHORT (3) is what the standard says; LONG (4) reads the same way in Pillow.
            guard count == 1 else { return nil }
            switch type {
            case 3: return read(at + 8, 2)
            case 4: return read(at + 8, 4)
            default: return nil
            }
        }
        return nil
    }

    /// `image` turned or mirrored upright.
    func apply(to image: RGBImage) -> RGBImage {
        if self == .identity { return image }
        let width = image.width, height = image.height
        let swapsSides = rawValue >= 5
        let outWidth = swapsSides ? height : width, outHeight = swapsSides ? width : height
        // For each output pixel (x, y): the source pixel as (column, row).
        let source: (Int, Int) -> (Int, Int)
        switch self {
        case .identity: source = { x, y in (x, y) }
        case .mirrored: source = { x, y in (width - 1 - x, y) }
        case .rotated180: source = { x, y in (width - 1 - x, height - 1 - y) }
        case .flipped: source = { x, y in (x, height - 1 - y) }
        case .transposed: source = { x, y in (y, x) }
        case .rotatedClockwise: source = { x, y in (y, height - 1 - x) }
        case .transversed: source = { x, y in (width - 1 - y, height - 1 - x) }
        case .rotatedCounterClockwise: source = { x, y in (width - 1 - y, x) }
        }
        let pixels = [UInt8](unsafeUninitializedCapacity: image.pixels.count) { output, count in
            image.pixels.withUnsafeBufferPointer { input in
                for y in 0..<outHeight {
                    for x in 0..<outWidth {
                        let (column, row) = source(x, y)
                        let from = (row * width + column) * 3, to = (y * outWidth + x) * 3
                        output[to] = input[from]
                        output[to + 1] = input[from + 1]
                        output[to + 2] = input[from + 2]
                    }
                }
            }
            count = image.pixels.count
        }
        return RGBImage(width: outWidth, height: outHeight, pixels: pixels)
    }
}
