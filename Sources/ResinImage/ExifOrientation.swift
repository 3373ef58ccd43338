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

    /// The orientation a JPEG's APP1 markers give, as Pillow finds it: the EXIF blocks ("Exif\0\0", their
    /// payloads joined in file order) when they hold the tag, else the last XMP packet's `tiff:Orientation`.
    /// Anything malformed, or a value outside 1...8, leaves the image as it is. (Pillow raises on an EXIF block
    /// without a TIFF header; the image is still usable, so here that block is ignored.)
    init(app1Markers markers: [UnsafeRawBufferPointer]) {
        let exifPrefix = Array("Exif\0\0".utf8), xmpPrefix = Array("http://ns.adobe.com/xap/1.0/\0".utf8)
        var exif: [UInt8]?
        var xmp: UnsafeRawBufferPointer.SubSequence?
        for marker in markers {
            if marker.starts(with: exifPrefix) {
                exif = (exif ?? []) + marker.dropFirst(exifPrefix.count)
            } else if marker.starts(with: xmpPrefix) {
                xmp = marker.dropFirst(xmpPrefix.count)
            }
        }
        self.init(exif: exif, xmp: xmp.map { Array($0) })
    }

    /// The orientation from an EXIF block (TIFF header onwards) and an XMP packet, either possibly absent.
    init(exif: [UInt8]?, xmp: [UInt8]?) {
        let value: Int?
        switch exif.map(Self.lookUpTag) ?? .absent {
        case .present(let tagValue): value = tagValue
        case .absent: value = xmp.flatMap(Self.xmpValue)
        }
        self = value.flatMap { Self(rawValue: $0) } ?? .identity
    }

    /// Whether IFD0 holds the orientation tag, and its value when it is one number.
    enum TagLookup: Equatable {
        case absent
        case present(Int?)
    }

    /// IFD0's orientation tag in an EXIF block in either byte order. A tag of an unexpected type or count is
    /// present without a usable value, so the XMP packet is not consulted (as in Pillow).
    static func lookUpTag(_ exif: [UInt8]) -> TagLookup {
        guard exif.count >= 8 else { return .absent }
        let bigEndian: Bool
        switch (exif[0], exif[1], exif[2], exif[3]) {
        case (0x49, 0x49, 0x2A, 0x00): bigEndian = false
        case (0x4D, 0x4D, 0x00, 0x2A): bigEndian = true
        default: return .absent
        }
        func read(_ offset: Int, _ size: Int) -> Int? {
            guard offset >= 0, offset + size <= exif.count else { return nil }
            var value = 0
            for index in 0..<size {
                value = value << 8 | Int(exif[offset + (bigEndian ? index : size - 1 - index)])
            }
            return value
        }
        guard let directory = read(4, 4), let entries = read(directory, 2) else { return .absent }
        for entry in 0..<entries {
            let at = directory + 2 + 12 * entry
            // A directory cut short keeps the entries before the cut, as Pillow's reader does.
            guard let tag = read(at, 2), let type = read(at + 2, 2), let count = read(at + 4, 4) else { return .absent }
            guard tag == 0x0112 else { continue }
            guard count == 1 else { return .present(nil) }
            switch type {
            case 1: return .present(read(at + 8, 1))  // BYTE
            case 3: return .present(read(at + 8, 2))  // SHORT, what the standard says
            case 4: return .present(read(at + 8, 4))  // LONG
            default: return .present(nil)
            }
        }
        return .absent
    }

    /// The digit after the first `tiff:Orientation="` or `tiff:Orientation>` in an XMP packet.
    static func xmpValue(_ xmp: [UInt8]) -> Int? {
        let name = Array("tiff:Orientation".utf8)
        guard xmp.count > name.count else { return nil }
        for start in 0..<(xmp.count - name.count) where xmp[start] == name[0] && xmp[start..<start + name.count].elementsEqual(name) {
            var at = start + name.count
            if xmp[at] == UInt8(ascii: "=") && at + 1 < xmp.count && xmp[at + 1] == UInt8(ascii: "\"") {
                at += 2
            } else if xmp[at] == UInt8(ascii: ">") {
                at += 1
            } else {
                continue
            }
            guard at < xmp.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(xmp[at]) else { continue }
            return Int(xmp[at] - UInt8(ascii: "0"))
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
