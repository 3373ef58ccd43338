import Foundation
import Testing
import TestSupport
@testable import ResinImage

/// Broken input gives an `ImageError` naming the file, never a crash, and sizes beyond the limits are
/// refused before the pixels are allocated.
@Suite struct DecodingErrorTests {
    /// Decodes `bytes` saved as `name` in a fresh folder; the error, if any, must name that file.
    static func decodeSaved(_ bytes: [UInt8], as name: String) throws -> (error: ImageError?, path: String) {
        let folder = try TemporaryFolder()
        let path = folder.file(name)
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        do {
            _ = try ImageDecoder.decode(file: path)
            return (nil, path)
        } catch {
            return (error, path)
        }
    }

    static func expectNamed(_ error: ImageError?, _ path: String, _ words: String) {
        #expect(error?.file == path)
        #expect(error?.description.hasPrefix(path + ": ") == true)
        #expect(error?.message.contains(words) == true, "\(error?.description ?? "no error"): expected '\(words)'")
    }

    static let expectedMessages: [String: String] = [
        "broken-text.jpg": "not a JPEG or PNG image (starts with 3C 68 74 6D)",
        "broken-cmyk.jpg": "CMYK JPEG images are not supported",
        "broken-huge.png": "PNG image too large (60000x60000",
        "broken-huge.jpg": "JPEG image too large (65000x65000",
        "broken-too-wide.png": "corrupt PNG image (Invalid IHDR data: Image width exceeds user limit in IHDR)",
        "broken-zero.png": "corrupt PNG image (Invalid IHDR data: Image width is zero in IHDR)",
        "broken-sof.jpg": "corrupt JPEG image",
        "broken-ihdr.png": "corrupt PNG image (IHDR: CRC error)",
    ]

    @Test(arguments: ImageFixtures.broken)
    func brokenFixture(name: String) throws {
        let path = ImageFixtures.path(name)
        let words = try #require(Self.expectedMessages[name], "no expected message for \(name)")
        #expect { _ = try ImageDecoder.decode(file: path) } throws: { error in
            Self.expectNamed(error as? ImageError, path, words)
            return error is ImageError
        }
    }

    /// Cut at the start, inside the headers, and inside the pixel data.
    @Test(arguments: ["baseline-420.jpg", "progressive-420.jpg", "rgb8.png", "interlaced-rgb8.png", "gray1.png"])
    func truncated(name: String) throws {
        let bytes = try ImageFixtures.bytes(name)
        let isJPEG = name.hasSuffix(".jpg")
        // Only cuts before the last chunk or marker: a file missing just its end marker still holds every pixel.
        for length in [1, 2, 7, 12, 30, 100, bytes.count / 2, bytes.count * 4 / 5] where length < bytes.count - 14 {
            let (error, path) = try Self.decodeSaved(Array(bytes.prefix(length)), as: "cut-\(length)-" + name)
            let words = length < (isJPEG ? 3 : 8) ? "not a JPEG or PNG image" : "truncated"
            Self.expectNamed(error, path, words)
        }
    }

    @Test func emptyFile() throws {
        let (error, path) = try Self.decodeSaved([], as: "empty.jpg")
        Self.expectNamed(error, path, "empty file, not an image")
    }

    @Test func missingFile() {
        let path = "/nonexistent-folder/photo.jpg"
        #expect { _ = try ImageDecoder.decode(file: path) } throws: { error in
            Self.expectNamed(error as? ImageError, path, "cannot open (No such file or directory)")
            return true
        }
    }

    /// Bytes flipped anywhere (seeded): the decoder returns an image of the declared size or throws an
    /// ImageError naming the file; a crash or trap fails the whole run.
    @Test(arguments: ["baseline-420.jpg", "progressive-420.jpg", "gray.jpg", "rgb8.png", "palette8-trns.png", "interlaced-rgb8.png"])
    func corrupted(name: String) throws {
        let bytes = try ImageFixtures.bytes(name)
        var random = SplitMix64(seed: bytes.count)
        var refused = 0
        for round in 0..<60 {
            var damaged = bytes
            for _ in 0..<(1 + round % 4) {
                let offset = Int(random.next() % UInt64(bytes.count - 2)) + 2
                damaged[offset] ^= UInt8(truncatingIfNeeded: random.next() | 1)
            }
            let name = "damaged-\(round)-" + name
            do {
                let image = try damaged.withUnsafeBytes { try ImageDecoder.decode($0, file: name) }
                #expect(image.pixels.count == image.width * image.height * 3)
            } catch let error as ImageError {
                #expect(error.file == name && error.description.hasPrefix(name + ": "))
                refused += 1
            }
        }
        // Most damage is noticed; a JPEG's entropy-coded data can absorb some, as in every decoder.
        #expect(refused > 0)
    }

    /// A limit below the image's size refuses it with the size named, and nothing is decoded.
    @Test func pixelLimit() throws {
        let bytes = try ImageFixtures.bytes("rgb8.png")
        #expect { _ = try bytes.withUnsafeBytes { try ImageDecoder.decode($0, file: "x.png", maximumRGBBytes: 100) } } throws: { error in
            (error as? ImageError)?.description == "x.png: PNG image too large (24x18, at most 65535 per side and 33 pixels)"
        }
    }

    /// Bytes in memory have no file: the message stands alone.
    @Test func noFileName() {
        let bytes: [UInt8] = Array("GIF89a".utf8)
        #expect { _ = try bytes.withUnsafeBytes { try ImageDecoder.decode($0) } } throws: { error in
            (error as? ImageError)?.description == "not a JPEG or PNG image (starts with 47 49 46 38)"
        }
    }
}
