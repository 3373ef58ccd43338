import Foundation
import Testing
import TestSupport
@testable import ResinImage

/// Decoded pixels equal Pillow's `ImageOps.exif_transpose(Image.open(f)).convert("RGB")` exactly, for every
/// JPEG and PNG layout in Fixtures/images (16-bit gray: Pillow's 16-bit samples cut to their high byte).
@Suite struct DecodingTests {
    @Test(arguments: ImageFixtures.images)
    func equalsPillow(name: String) throws {
        let image = try ImageDecoder.decode(file: ImageFixtures.path(name))
        let reference = try ImageFixtures.reference(name, "decoded")
        #expect([image.height, image.width, 3] == reference.shape)
        let expected = reference.uint8Values
        let different = zip(image.pixels, expected).filter { $0 != $1 }.count
        #expect(image.pixels.count == expected.count && different == 0, "\(different) samples differ from Pillow's")
    }

    /// The same bytes decode the same whatever the file is called: the format comes from the content.
    @Test func formatFromContentNotExtension() throws {
        let folder = try TemporaryFolder()
        for (name, disguise) in [("rgb8.png", "photo.jpg"), ("baseline-420.jpg", "photo.png"), ("gray8.png", "noextension")] {
            let bytes = try ImageFixtures.bytes(name)
            let renamed = folder.file(disguise)
            #expect(FileManager.default.createFile(atPath: renamed, contents: Data(bytes)))
            let original = try ImageDecoder.decode(file: ImageFixtures.path(name))
            #expect(try ImageDecoder.decode(file: renamed) == original)
        }
    }

    /// Every EXIF orientation gives the upright image: orientation N equals orientation 1's pixels turned or
    /// mirrored as the EXIF standard says, computed here independently of the decoder.
    @Test(arguments: 1...8)
    func orientation(value: Int) throws {
        let upright = try ImageDecoder.decode(file: ImageFixtures.path("exif-1.jpg"))
        let image = try ImageDecoder.decode(file: ImageFixtures.path("exif-\(value).jpg"))
        // The stored (unrotated) pixels of every exif-N fixture are the same picture, so the upright image of
        // N is a fixed transformation of exif-1's stored image.
        let (width, height) = (upright.width, upright.height)
        func stored(_ x: Int, _ y: Int) -> ArraySlice<UInt8> {
            upright.pixels[(y * width + x) * 3..<(y * width + x) * 3 + 3]
        }
        let swaps = value >= 5
        #expect(image.width == (swaps ? height : width) && image.height == (swaps ? width : height))
        var mismatches = 0
        for y in 0..<image.height {
            for x in 0..<image.width {
                // Where the upright pixel (x, y) sits in the stored picture.
                let (sx, sy): (Int, Int) = switch value {
                case 1: (x, y)
                case 2: (width - 1 - x, y)
                case 3: (width - 1 - x, height - 1 - y)
                case 4: (x, height - 1 - y)
                case 5: (y, x)
                case 6: (y, height - 1 - x)
                case 7: (width - 1 - y, height - 1 - x)
                default: (width - 1 - y, x)
                }
                if image.pixels[(y * image.width + x) * 3..<(y * image.width + x) * 3 + 3] != stored(sx, sy) { mismatches += 1 }
            }
        }
        #expect(mismatches == 0)
    }

    /// The EXIF reader takes either byte order and SHORT or LONG values, and leaves the image as it is for
    /// anything malformed.
    @Test(arguments: [
        ([0x49, 0x49, 0x2A, 0x00, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0], 6),
        ([0x4D, 0x4D, 0x00, 0x2A, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 8, 0, 0], 8),
        ([0x49, 0x49, 0x2A, 0x00, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 4, 0, 1, 0, 0, 0, 3, 0, 0, 0], 3),
        ([0x49, 0x49, 0x2A, 0x00, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 9, 0, 0, 0], 1),
        ([0x49, 0x49, 0x2A, 0x00, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 2, 0, 0, 0, 6, 0, 0, 0], 1),
        ([0x49, 0x49, 0x2A, 0x00, 200, 0, 0, 0], 1),
        ([0x49, 0x49, 0x2A, 0x00, 8, 0, 0, 0, 5, 0, 0x12, 0x01, 3, 0], 1),
        ([0x41, 0x42, 0x2A, 0x00, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0], 1),
    ] as [([UInt8], Int)])
    func exifBlock(bytes: [UInt8], expected: Int) {
        #expect(ExifOrientation(exif: bytes, xmp: nil).rawValue == expected)
    }

    /// XMP's `tiff:Orientation` counts only when EXIF has no orientation tag at all, as in Pillow.
    @Test func xmpOrientation() {
        let xmp = Array(#"<rdf:Description tiff:Orientation="6"/>"#.utf8)
        let element = Array("<tiff:Orientation>8</tiff:Orientation>".utf8)
        let withTag: [UInt8] = [0x49, 0x49, 0x2A, 0x00, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 3, 0, 0, 0]
        let withoutTag: [UInt8] = [0x49, 0x49, 0x2A, 0x00, 8, 0, 0, 0, 1, 0, 0x0F, 0x01, 3, 0, 1, 0, 0, 0, 3, 0, 0, 0]
        let badCount: [UInt8] = [0x49, 0x49, 0x2A, 0x00, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 2, 0, 0, 0, 3, 0, 0, 0]
        #expect(ExifOrientation(exif: nil, xmp: xmp) == .rotatedClockwise)
        #expect(ExifOrientation(exif: nil, xmp: element) == .rotatedCounterClockwise)
        #expect(ExifOrientation(exif: withTag, xmp: xmp) == .rotated180)
        #expect(ExifOrientation(exif: withoutTag, xmp: xmp) == .rotatedClockwise)
        #expect(ExifOrientation(exif: badCount, xmp: xmp) == .identity)
        #expect(ExifOrientation(exif: nil, xmp: Array("tiff:Orientation=6".utf8)) == .identity)
    }

    /// EXIF split over two APP1 markers is joined, as Pillow joins it.
    @Test func exifOverTwoMarkers() {
        let block: [UInt8] = [0x4D, 0x4D, 0x00, 0x2A, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 5, 0, 0]
        let prefix = Array("Exif\0\0".utf8)
        let first = prefix + block[..<12], second = prefix + block[12...]
        let orientation = first.withUnsafeBytes { a in second.withUnsafeBytes { b in ExifOrientation(app1Markers: [a, b]) } }
        #expect(orientation == .transposed)
    }
}
