import Foundation
import Resin
import ResinIR
import Testing
import TestSupport
@testable import ResinFormat

/// Native files made to look valid (every checksum right) while a blob lies about its size.
@Suite struct HostileNativeFileTests {
    /// A small fixture written with deflated blobs.
    func compressedFile(in folder: TemporaryFolder) throws -> (path: String, bytes: [UInt8], layout: NativeFileLayout) {
        let model = try ModelLoader.load(path: TestPaths.model("quirk-sum")).model
        let path = folder.file("model.resin")
        try NativeWriter.write(model, toPath: path, options: NativeWriteOptions(compress: true))
        return (path, try readFile(atPath: path), try NativeReader.read(path: path).1)
    }

    /// Replaces blob `index`'s stored bytes (which must not grow) and makes every checksum match again.
    func replacingBlob(_ index: Int, with stored: [UInt8], in bytes: [UInt8], layout: NativeFileLayout) throws -> [UInt8] {
        let blob = layout.blobs[index]
        try #require(stored.count <= blob.storedBytes, "the replacement must fit where the blob was")
        var writer = ByteWriter(bytes: bytes)
        writer.bytes.replaceSubrange(blob.offset..<(blob.offset + stored.count), with: stored)
        let entry = NativeLayout.headerBytes + (index + 1) * NativeLayout.entryBytes
        writer.put(UInt64(stored.count), at: entry + 16)
        writer.put(stored.withUnsafeBytes { crc32($0) }, at: entry + 36)
        var patched = layout
        patched.blobs[index].storedBytes = stored.count
        let structure = writer.bytes.withUnsafeBytes { NativeReader.structureChecksum($0, graph: patched.graph) }
        writer.put(structure, at: NativeLayout.checksumOffset)
        return writer.bytes
    }

    @Test(arguments: [false, true])
    func aBlobInflatingPastItsDeclaredSizeStopsThere(verifyWeights: Bool) throws {
        let folder = try TemporaryFolder()
        let (_, bytes, layout) = try compressedFile(in: folder)
        let index = try #require(layout.blobs.indices.max { layout.blobs[$0].storedBytes < layout.blobs[$1].storedBytes })
        let declared = layout.blobs[index].decodedBytes
        // Zeros deflate to almost nothing, so a stream inflating to far more than declared still fits in place.
        let bomb = [UInt8](repeating: 0, count: declared + (1 << 20)).withUnsafeBytes { Compression.deflate($0) }
        let path = folder.file("bomb.resin")
        try Data(try replacingBlob(index, with: bomb, in: bytes, layout: layout)).write(to: URL(fileURLWithPath: path))
        #expect { try NativeReader.read(path: path, verifyWeights: verifyWeights) } throws: { error in
            let text = "\(error)"
            return text.hasPrefix(path + ": ") && text.contains("section \(index + 1)")
                && text.contains("inflates past its declared \(declared) bytes")
        }
    }

    @Test func aBlobInflatingShortOfItsDeclaredSizeIsRefused() throws {
        let folder = try TemporaryFolder()
        let (_, bytes, layout) = try compressedFile(in: folder)
        let index = try #require(layout.blobs.indices.max { layout.blobs[$0].storedBytes < layout.blobs[$1].storedBytes })
        let declared = layout.blobs[index].decodedBytes
        let short = [UInt8](repeating: 0, count: declared - 4).withUnsafeBytes { Compression.deflate($0) }
        let path = folder.file("short.resin")
        try Data(try replacingBlob(index, with: short, in: bytes, layout: layout)).write(to: URL(fileURLWithPath: path))
        #expect { try NativeReader.read(path: path) } throws: { error in
            "\(error)".contains("section \(index + 1)") && "\(error)".contains("inflates to fewer than its declared \(declared) bytes")
        }
    }

    @Test func aDeclaredSizeNoDeflateStreamCouldReachIsRefusedBeforeAllocating() throws {
        let folder = try TemporaryFolder()
        let (_, bytes, layout) = try compressedFile(in: folder)
        let blob = layout.blobs[0]
        // 2^36 bytes from a few hundred stored: more than zlib's 1032:1, so nothing is mapped for it.
        var writer = ByteWriter(bytes: bytes)
        writer.put(UInt64(1) << 36, at: NativeLayout.headerBytes + NativeLayout.entryBytes + 24)
        writer.put(writer.bytes.withUnsafeBytes { NativeReader.structureChecksum($0, graph: layout.graph) }, at: NativeLayout.checksumOffset)
        let path = folder.file("claim.resin")
        try Data(writer.bytes).write(to: URL(fileURLWithPath: path))
        #expect { try NativeReader.read(path: path) } throws: { error in
            "\(error)".contains("\(blob.storedBytes) deflated bytes cannot inflate to the declared \(1 << 36) bytes")
        }
    }
}
