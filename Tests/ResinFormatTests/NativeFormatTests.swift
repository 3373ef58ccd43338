import Foundation
import Resin
import ResinIR
import Testing
import TestSupport
@testable import ResinFormat

/// The native file: what is written reads back equal, and every damaged byte of the checked parts is refused.
@Suite struct NativeFormatTests {
    static let fixture = TestPaths.model("resnet-bottleneck-v1.5")

    func optimizedModel() throws -> Model {
        try ModelLoader.load(path: Self.fixture, optimize: true).model
    }

    func write(_ model: Model, _ options: NativeWriteOptions = NativeWriteOptions(), to folder: TemporaryFolder) throws -> String {
        let path = folder.file("model.resin")
        try NativeWriter.write(model, toPath: path, options: options)
        return path
    }

    @Test func readsBackTheSameGraphAndWeights() throws {
        let folder = try TemporaryFolder()
        let model = try optimizedModel()
        let (read, layout) = try NativeReader.read(path: try write(model, to: folder), verifyWeights: true)
        #expect(read.graph.nodes.map(\.op) == model.graph.nodes.map(\.op))
        #expect(read.graph.nodes.map(\.inputs) == model.graph.nodes.map(\.inputs))
        #expect(read.graph.initializers.count == model.graph.initializers.count)
        for (left, right) in zip(read.graph.initializers, model.graph.initializers) {
            #expect(left.name == right.name && left.shape == right.shape && left.storage.hasSameBytes(as: right.storage))
        }
        #expect(layout.blobs.allSatisfy { $0.offset % NativeLayout.alignment == 0 })
        #expect(layout.graph.offset % NativeLayout.alignment == 0)
    }

    @Test func compressedBlobsDecodeToTheSameBytes() throws {
        let folder = try TemporaryFolder()
        let model = try optimizedModel()
        let compressed = try NativeReader.read(path: try write(model, NativeWriteOptions(compress: true), to: folder), verifyWeights: true).0
        for (left, right) in zip(compressed.graph.initializers, model.graph.initializers) {
            #expect(left.storage.hasSameBytes(as: right.storage))
        }
        // Half-precision files are checked bit for bit in HalfPrecisionWeightTests.
    }

    @Test func everyHeaderAndTableByteIsChecked() throws {
        let folder = try TemporaryFolder()
        let path = try write(try optimizedModel(), to: folder)
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        let (_, layout) = try NativeReader.read(path: path)
        // Every header byte, every third table byte (tools/check_native.py flips all of them through the CLI).
        let structural = Array(0..<layout.tableOffset) + Array(stride(from: layout.tableOffset, to: layout.tableOffset + layout.tableBytes, by: 3))
            + Array(stride(from: layout.graph.offset, to: layout.graph.offset + layout.graph.storedBytes, by: max(1, layout.graph.storedBytes / 97)))
        let damaged = folder.file("damaged.resin")
        for position in structural {
            var bytes = original
            bytes[position] ^= 0xFF
            try bytes.write(to: URL(fileURLWithPath: damaged))
            #expect(throws: NativeFormatError.self, "byte \(position)") { try NativeReader.read(path: damaged) }
        }
    }

    @Test func damagedWeightsAreFoundWithVerifyWeights() throws {
        let folder = try TemporaryFolder()
        let path = try write(try optimizedModel(), to: folder)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let (_, layout) = try NativeReader.read(path: path)
        let blob = try #require(layout.blobs.first { $0.storedBytes > 16 })
        bytes[blob.offset + blob.storedBytes / 2] ^= 0x01
        let damaged = folder.file("damaged.resin")
        try bytes.write(to: URL(fileURLWithPath: damaged))
        #expect { try NativeReader.read(path: damaged, verifyWeights: true) } throws: { error in
            "\(error)".contains("weight blob in section") && "\(error)".contains("CRC-32")
        }
    }

    @Test func truncationsAreRefused() throws {
        let folder = try TemporaryFolder()
        let path = try write(try optimizedModel(), to: folder)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let cut = folder.file("cut.resin")
        for index in 0..<50 {
            let length = index * (bytes.count - 1) / 49
            try bytes.prefix(length).write(to: URL(fileURLWithPath: cut))
            #expect(throws: (any Error).self, "cut at \(length)") { try NativeReader.read(path: cut) }
        }
    }

    @Test func aNewerMajorVersionIsRefusedNamingBothVersions() throws {
        let folder = try TemporaryFolder()
        var bytes = try Data(contentsOf: URL(fileURLWithPath: try write(try optimizedModel(), to: folder)))
        bytes[8] = 2
        let newer = folder.file("newer.resin")
        try bytes.write(to: URL(fileURLWithPath: newer))
        #expect { try NativeReader.read(path: newer) } throws: { error in
            "\(error)".contains("2.0") && "\(error)".contains("1.0")
        }
    }
}

@Suite struct HalfFloatTests {
    /// Every one of the 65,536 bit patterns against Swift's own Float16 conversion.
    @Test func widenMatchesFloat16OnEveryBitPattern() {
        for bits in 0...UInt16.max {
            let expected = Float(Float16(bitPattern: bits))
            let actual = HalfFloat.widen(bits)
            if expected.isNaN {
                #expect(actual.isNaN, "bits 0x\(String(bits, radix: 16))")
                #expect(actual.sign == expected.sign)
            } else {
                #expect(actual.bitPattern == expected.bitPattern, "bits 0x\(String(bits, radix: 16)): \(actual) vs \(expected)")
            }
        }
    }

    @Test func widenBuffersAndEmptyOnes() {
        let halves: [Float16] = [0, -0, 1, -2.5, 65504, .infinity, 0x1p-24, -0x1p-14]
        let source = halves.map { $0.bitPattern.littleEndian }
        var out = [Float](repeating: .nan, count: halves.count)
        source.withUnsafeBytes { raw in out.withUnsafeMutableBytes { HalfFloat.widen(raw, into: $0) } }
        #expect(out.map(\.bitPattern) == halves.map { Float($0).bitPattern })
        [UInt16]().withUnsafeBytes { raw in HalfFloat.widen(raw, into: UnsafeMutableRawBufferPointer(start: nil, count: 0)) }
    }
}
