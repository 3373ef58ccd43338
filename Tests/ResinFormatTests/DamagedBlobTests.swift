import Foundation
import Resin
import ResinIR
import Testing
import TestSupport
@testable import ResinFormat

/// Damaged weight blobs in fp16 and deflated files, loaded with and without `--verify-weights`.
///
/// The contract: every load checks the CRC-32 of the header, section table and graph section; only
/// `--verify-weights` checks the weight blobs' CRC-32. A deflated blob is inflated at load, and zlib's
/// stream checks its own Adler-32, so damage there is refused on every load. An fp16 blob is only widened:
/// without `--verify-weights` nothing can tell a damaged half float from a real one, and the load
/// succeeds with that one weight changed; with it, the CRC-32 refuses the file.
@Suite struct DamagedBlobTests {
    /// A copy of the fixture written with `options`, the largest blob of `encoding`, and the file's bytes.
    func file(_ options: NativeWriteOptions, encoding: NativeLayout.Encoding, in folder: TemporaryFolder) throws
        -> (path: String, blob: NativeSection, bytes: Data) {
        let formats = NativeFormatTests()
        let path = try formats.write(try formats.optimizedModel(), options, to: folder)
        let layout = try NativeReader.read(path: path).1
        let blob = try #require(layout.blobs.filter { $0.encoding == encoding }.max { $0.storedBytes < $1.storedBytes })
        #expect(blob.storedBytes > 64)
        return (path, blob, try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// Positions across a blob: its first bytes (zlib's header), middle, and last four (Adler-32).
    static func positions(_ blob: NativeSection) -> [Int] {
        let inside = (0..<12).map { blob.offset + 2 + $0 * (blob.storedBytes - 8) / 12 }
        return [blob.offset, blob.offset + 1] + inside + (1...4).map { blob.offset + blob.storedBytes - $0 }
    }

    @Test func aDamagedDeflatedBlobIsRefusedOnEveryLoad() throws {
        let folder = try TemporaryFolder()
        let (_, blob, original) = try file(NativeWriteOptions(compress: true), encoding: .deflate, in: folder)
        let damaged = folder.file("damaged.resin")
        for position in Self.positions(blob) {
            var bytes = original
            bytes[position] ^= 0x10
            try bytes.write(to: URL(fileURLWithPath: damaged))
            for verify in [false, true] {
                #expect(throws: NativeFormatError.self, "byte \(position), verifyWeights \(verify)") {
                    try NativeReader.read(path: damaged, verifyWeights: verify)
                }
            }
        }
    }

    @Test func aDamagedHalfFloatBlobIsFoundOnlyWithVerifyWeights() throws {
        let folder = try TemporaryFolder()
        let (path, blob, original) = try file(NativeWriteOptions(halfPrecision: true), encoding: .float16, in: folder)
        let (intact, layout) = try NativeReader.read(path: path)
        let index = try #require(layout.blobs.firstIndex { $0.offset == blob.offset })
        let element = 101
        try #require(blob.storedBytes > 2 * element + 2)
        var bytes = original
        bytes[blob.offset + 2 * element + 1] ^= 0x04  // an exponent bit of half float `element`
        let damaged = folder.file("damaged.resin")
        try bytes.write(to: URL(fileURLWithPath: damaged))

        #expect { try NativeReader.read(path: damaged, verifyWeights: true) } throws: { error in
            "\(error)".contains("weight blob in section \(index + 1)") && "\(error)".contains("CRC-32")
        }
        let loaded = try NativeReader.read(path: damaged).0
        var changed: [(tensor: String, element: Int)] = []
        for (left, right) in zip(loaded.graph.initializers, intact.graph.initializers) {
            guard let a = left.floatValues, let b = right.floatValues else { continue }
            for (position, (x, y)) in zip(a, b).enumerated() where x.bitPattern != y.bitPattern {
                changed.append((left.name ?? "?", position))
            }
        }
        #expect(changed.count == 1 && changed.first?.element == element,
                "without --verify-weights exactly the damaged weight differs: \(changed.prefix(4))")
    }
}
