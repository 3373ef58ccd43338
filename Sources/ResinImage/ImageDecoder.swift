import CResinImage

/// Decodes JPEG and PNG files to `RGBImage`, recognising the format by its first bytes (never by the file's
/// extension). Pixels equal Pillow's `ImageOps.exif_transpose(Image.open(file)).convert("RGB")`, except that
/// 16-bit gray PNG samples are cut to their high byte where Pillow clips them to 255 (Docs/images.md).
package enum ImageDecoder {
    /// Decoded images are refused beyond this many bytes of RGB (89 million pixels), before any is allocated.
    package static let maximumRGBBytes = 1 << 28
    /// Files are refused beyond this many bytes, before they are read.
    package static let maximumFileBytes = 1 << 30

    /// Decodes an image held in memory; `file` names it in errors.
    package static func decode(_ bytes: UnsafeRawBufferPointer, file: String? = nil) throws(ImageError) -> RGBImage {
        try decode(bytes, file: file, maximumRGBBytes: maximumRGBBytes)
    }

    /// Reads `file`, then decodes it.
    package static func decode(file: String) throws(ImageError) -> RGBImage {
        let bytes = try FileBytes.read(file: file, limit: maximumFileBytes)
        // withUnsafeBytes does not carry a typed error through; a Result does.
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(ImageError) in try decode(buffer, file: file, maximumRGBBytes: maximumRGBBytes) }
        }
        return try result.get()
    }

    /// Decodes an image of at most `maximumRGBBytes` bytes of RGB output (the fuzzer asks for less).
    package static func decode(
        _ bytes: UnsafeRawBufferPointer, file: String?, maximumRGBBytes: Int
    ) throws(ImageError) -> RGBImage {
        switch ImageFormat(signature: bytes) {
        case .jpeg: return try JPEGDecoding.decode(bytes, file: file, maximumRGBBytes: maximumRGBBytes)
        case .png: return try PNGDecoding.decode(bytes, file: file, maximumRGBBytes: maximumRGBBytes)
        case nil:
            if bytes.isEmpty { throw ImageError(file: file, message: "empty file, not an image") }
            let start = bytes.prefix(4).map { hex($0) }.joined(separator: " ")
            throw ImageError(file: file, message: "not a JPEG or PNG image (starts with \(start))")
        }
    }

    /// Checks a header's dimensions against the limits before the pixels are allocated.
    static func checkSize(
        width: Int, height: Int, format: String, file: String?, maximumRGBBytes: Int
    ) throws(ImageError) {
        guard width > 0 && height > 0 else {
            throw ImageError(file: file, message: "\(format) image of zero size (\(width)x\(height))")
        }
        guard width <= 65535 && height <= 65535 && width * height * 3 <= maximumRGBBytes else {
            throw ImageError(
                file: file,
                message: "\(format) image too large (\(width)x\(height), at most 65535 per side and \(maximumRGBBytes / 3) pixels)")
        }
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
    }
}

/// The image formats the decoder reads, told apart by their signatures.
enum ImageFormat {
    case jpeg, png

    init?(signature bytes: UnsafeRawBufferPointer) {
        if bytes.count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF {
            self = .jpeg
        } else if bytes.count >= 8 && bytes.prefix(8).elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            self = .png
        } else {
            return nil
        }
    }
}

/// The calls of one of CResinImage's decoders, so that JPEG and PNG share the sequence: read the header,
/// check the declared size, allocate the pixels, read them.
struct DecoderCalls<Decoder> {
    var format: String
    var readHeader: (Decoder, UnsafeMutablePointer<resin_image_header>) -> Int32
    var readPixels: (Decoder, UnsafeMutablePointer<UInt8>?, Int) -> Int32
    var message: (Decoder) -> UnsafePointer<CChar>?

    /// The pixels as stored (before any orientation), or the decoder's message naming `file`.
    func read(_ decoder: Decoder, file: String?, maximumRGBBytes: Int) throws(ImageError) -> RGBImage {
        var header = resin_image_header()
        guard readHeader(decoder, &header) == 0 else { throw failure(decoder, file) }
        let width = Int(header.width), height = Int(header.height)
        try ImageDecoder.checkSize(width: width, height: height, format: format, file: file, maximumRGBBytes: maximumRGBBytes)
        var failed = false
        let pixels = [UInt8](unsafeUninitializedCapacity: width * height * 3) { buffer, count in
            failed = readPixels(decoder, buffer.baseAddress, width * 3) != 0
            // On failure the rows are partly written; zero the buffer so the array is initialized, then drop it.
            if failed { buffer.initialize(repeating: 0) }
            count = buffer.count
        }
        guard !failed else { throw failure(decoder, file) }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    private func failure(_ decoder: Decoder, _ file: String?) -> ImageError {
        ImageError(file: file, message: message(decoder).map { String(cString: $0) } ?? "\(format) decoding failed")
    }
}

/// JPEG through CResinImage's libjpeg wrapper, then the EXIF or XMP orientation.
enum JPEGDecoding {
    static var calls: DecoderCalls<OpaquePointer> {
        DecoderCalls(format: "JPEG", readHeader: resin_jpeg_read_header, readPixels: resin_jpeg_read_pixels, message: resin_jpeg_message)
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, file: String?, maximumRGBBytes: Int) throws(ImageError) -> RGBImage {
        // Working memory: a progressive image keeps 2 bytes per sample of coefficients besides the output.
        guard let decoder = resin_jpeg_create(bytes.baseAddress, bytes.count, 3 * maximumRGBBytes) else {
            throw ImageError(file: file, message: "out of memory")
        }
        defer { resin_jpeg_destroy(decoder) }
        let image = try calls.read(decoder, file: file, maximumRGBBytes: maximumRGBBytes)
        var markers: [UnsafeRawBufferPointer] = []
        var data: UnsafePointer<UInt8>?
        var size = 0
        while resin_jpeg_app1(decoder, markers.count, &data, &size) != 0 {
            markers.append(UnsafeRawBufferPointer(start: data, count: size))
        }
        return ExifOrientation(app1Markers: markers).apply(to: image)
    }
}

/// PNG through CResinImage's libpng wrapper, then the EXIF or XMP orientation (Pillow applies it to PNG too).
enum PNGDecoding {
    /// Ancillary chunks (text, ICC profiles) may not inflate past this.
    static let maximumChunkBytes = 8 << 20

    static var calls: DecoderCalls<OpaquePointer> {
        DecoderCalls(format: "PNG", readHeader: resin_png_read_header, readPixels: resin_png_read_pixels, message: resin_png_message)
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, file: String?, maximumRGBBytes: Int) throws(ImageError) -> RGBImage {
        guard let decoder = resin_png_create(bytes.baseAddress, bytes.count, maximumChunkBytes) else {
            throw ImageError(file: file, message: "out of memory")
        }
        defer { resin_png_destroy(decoder) }
        let image = try calls.read(decoder, file: file, maximumRGBBytes: maximumRGBBytes)
        var data: UnsafePointer<UInt8>?
        var size = 0
        let exif = resin_png_exif(decoder, &data, &size) != 0 ? Array(UnsafeRawBufferPointer(start: data, count: size)) : nil
        let xmp = resin_png_xmp(decoder, &data, &size) != 0 ? Array(UnsafeRawBufferPointer(start: data, count: size)) : nil
        return ExifOrientation(exif: exif, xmp: xmp).apply(to: image)
    }
}
