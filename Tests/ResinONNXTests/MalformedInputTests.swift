import Foundation
import ResinIR
import Testing
import TestSupport
@testable import ResinONNX

/// Every malformed input is refused with an error naming what is wrong; none traps.
@Suite struct MalformedInputTests {
    static let fixture = TestPaths.model("resnet-basic-v1.5")

    func importBytes(_ bytes: [UInt8], folder: String? = nil) throws -> Model {
        try bytes.withUnsafeBytes { try ONNXImporter.importModel(bytes: $0, file: "bad.onnx", folder: folder) }
    }

    /// A model made by hand, changed by `edit`, then encoded.
    func encodedModel(_ edit: (inout Model) -> Void) throws -> [UInt8] {
        var model = try ONNXImporter.importModel(atPath: Self.fixture)
        edit(&model)
        return ONNXExporter.encode(model)
    }

    @Test(arguments: [0.001, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.9999])
    func truncatedFileIsRefused(_ fraction: Double) throws {
        let bytes = try readFile(atPath: Self.fixture)
        let cut = Array(bytes.prefix(Int(Double(bytes.count) * fraction)))
        #expect(throws: ImportError.self) { try importBytes(cut) }
    }

    @Test func everyEarlyTruncationIsRefused() throws {
        // Every cut inside the first kilobyte (model header, first nodes) must fail cleanly.
        let bytes = try readFile(atPath: Self.fixture)
        for length in stride(from: 0, to: min(bytes.count, 1024), by: 7) {
            #expect(throws: ImportError.self, "cut at \(length)") { try importBytes(Array(bytes.prefix(length))) }
        }
    }

    @Test func bitFlipsNeverTrap() throws {
        // A flipped bit may still decode to a valid model; what matters is an error or a model, never a crash.
        let bytes = try readFile(atPath: Self.fixture)
        var generator = SplitMix64(seed: 42)
        for _ in 0..<300 {
            var copy = bytes
            let position = Int(generator.next() % UInt64(copy.count))
            copy[position] ^= UInt8(1 << (generator.next() % 8))
            _ = try? importBytes(copy)
        }
    }

    @Test func notProtobufAtAll() {
        for bytes in [[], Array("hello, this is text\n".utf8), [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], [0xff, 0xff, 0xff]] as [[UInt8]] {
            #expect(throws: ImportError.self) { try importBytes(bytes) }
        }
    }

    @Test func rawDataOfTheWrongLength() throws {
        let bytes = try encodedModel { model in
            let tensor = model.graph.initializers[0]
            model.graph.initializers[0].storage = TensorStorage(copying: UnsafeRawBufferPointer(rebasing: tensor.storage.bytes.dropLast(4)))
        }
        let name = try ONNXImporter.importModel(atPath: Self.fixture).graph.initializers[0].name!
        #expect { try importBytes(bytes) } throws: { error in
            "\(error)".contains("tensor '\(name)'") && "\(error)".contains("raw_data has")
        }
    }

    @Test func negativeAndOverflowingDims() throws {
        for shape in [[-1, 4], [1 << 40, 1 << 40, 1 << 20]] {
            let bytes = try encodedModel { model in model.graph.initializers[0].shape = shape }
            #expect(throws: ImportError.self) { try importBytes(bytes) }
        }
    }

    @Test func unknownDataType() throws {
        // Data type 99 is not in the enum; it must be refused, not guessed.
        var bytes = try encodedModel { model in
            model.graph.initializers[0].dataType = .uint2
        }
        let marker: [UInt8] = [0x10, 25]  // field 2 (data_type) varint 25 (UINT2)
        if let index = bytes.firstIndex(ofSequence: marker) { bytes[index + 1] = 99 }
        #expect { try importBytes(bytes) } throws: { "\($0)".contains("unknown data type 99") }
    }

    @Test func attributeOfTheWrongType() throws {
        let bytes = try encodedModel { model in
            let index = model.graph.nodes.firstIndex { $0.opType == "Conv" }!
            let slot = model.graph.nodes[index].attributes.firstIndex { $0.name == "strides" }!
            model.graph.nodes[index].attributes[slot].value = .float(2)
        }
        #expect { try importBytes(bytes) } throws: { error in
            "\(error)".contains("(Conv): attribute 'strides' must be INTS, found FLOAT")
        }
    }

    @Test func externalDataOutsideTheModelsFolder() throws {
        let folder = try TemporaryFolder()
        for location in ["../escape.bin", "/etc/passwd", "sub/../../escape.bin", "missing.bin"] {
            let bytes = try encodedModel { model in
                model.graph.initializers[0].encoding = .external([StringPair(key: "location", value: location)])
            }
            var text = bytes
            // The exporter writes external tensors inline; mark this one external by hand.
            text = try ExternalMarking.mark(bytes: text, location: location)
            #expect("location \(location)") { try importBytes(text, folder: folder.path) } throws: { error in
                "\(error)".contains("external data '\(location)'")
            }
        }
    }

    @Test func graphWithoutOpsetImport() throws {
        let bytes = try encodedModel { model in model.opsetImports = [] }
        #expect { try importBytes(bytes) } throws: { "\($0)".contains("opset") }
    }
}

/// Rewrites the first initializer of an encoded model into an external-data reference, by round-tripping
/// through the generated C structs (the exporter itself always writes tensors inline).
enum ExternalMarking {
    static func mark(bytes: [UInt8], location: String) throws -> [UInt8] {
        var model = try bytes.withUnsafeBytes { try ONNXImporter.importModel(bytes: $0, file: "memory", folder: nil) }
        model.graph.initializers[0].encoding = .external([StringPair(key: "location", value: location)])
        return ONNXExporter.encode(model, keepingExternalReferences: true)
    }
}

extension Array where Element == UInt8 {
    func firstIndex(ofSequence sequence: [UInt8]) -> Int? {
        guard count >= sequence.count else { return nil }
        for start in 0...(count - sequence.count) where self[start..<(start + sequence.count)].elementsEqual(sequence) {
            return start
        }
        return nil
    }
}
