import Foundation
import ResinIR
import Testing
import TestSupport
@testable import ResinONNX

/// Import and export against the bytes the onnx package's own serializer wrote for the fixtures.
@Suite struct RoundTripTests {
    /// Fixtures whose tensors are all stored inline (export inlines external data, so that one differs).
    static let inlineFixtures = TestPaths.fixtureNames.filter { $0 != "quirk-external-data" }

    @Test(arguments: inlineFixtures)
    func exportReproducesTheFileByteForByte(_ fixture: String) throws {
        let path = TestPaths.model(fixture)
        let original = try readFile(atPath: path)
        let model = try ONNXImporter.importModel(atPath: path)
        let encoded = ONNXExporter.encode(model)
        #expect(encoded.count == original.count)
        #expect(encoded == original, "re-encoded bytes differ from the onnx package's serialization")
    }

    @Test(arguments: TestPaths.fixtureNames)
    func reimportGivesAnEqualModel(_ fixture: String) throws {
        let model = try ONNXImporter.importModel(atPath: TestPaths.model(fixture))
        let encoded = ONNXExporter.encode(model)
        let again = try encoded.withUnsafeBytes { try ONNXImporter.importModel(bytes: $0, file: "memory", folder: nil) }
        #expect(again.graph.nodes == model.graph.nodes)
        #expect(again.graph.inputs == model.graph.inputs)
        #expect(again.graph.outputs == model.graph.outputs)
        #expect(again.graph.initializers.count == model.graph.initializers.count)
        for (left, right) in zip(again.graph.initializers, model.graph.initializers) {
            #expect(left.name == right.name && left.shape == right.shape && left.dataType == right.dataType)
            #expect(left.storage.hasSameBytes(as: right.storage), "initializer \(left.name ?? "?") changed")
        }
        #expect(again.opsetImports == model.opsetImports)
        #expect(again.metadata == model.metadata)
    }

    @Test func externalDataIsReadAndWrittenInline() throws {
        let external = try ONNXImporter.importModel(atPath: TestPaths.model("quirk-external-data"))
        let tensors = external.graph.initializers.filter {
            if case .external = $0.encoding { return true }
            return false
        }
        try #require(!tensors.isEmpty, "the fixture should store weights externally")
        let reimported = try ONNXExporter.encode(external).withUnsafeBytes {
            try ONNXImporter.importModel(bytes: $0, file: "memory", folder: nil)
        }
        for (left, right) in zip(reimported.graph.initializers, external.graph.initializers) {
            #expect(left.storage.hasSameBytes(as: right.storage))
            #expect(left.encoding == .raw)
        }
    }

    @Test func typedFieldsOfEveryWidthRoundTrip() throws {
        // Narrow integer and half-precision types travel in int32_data; the importer widens and the
        // exporter narrows them back, sign-extending the signed ones.
        func tensor(_ name: String, _ type: DataType, _ bytes: [UInt8], _ count: Int) -> Tensor {
            Tensor(name: name, dataType: type, shape: [count], storage: TensorStorage(bytes: bytes), encoding: .typed)
        }
        let tensors = [
            tensor("i8", .int8, [0xfb, 0x05, 0x80], 3),
            tensor("u8", .uint8, [0xfb, 0x05, 0x80], 3),
            tensor("f16", .float16, [0x00, 0x3c, 0x00, 0xc0], 2),
            tensor("i16", .int16, [0xff, 0xff, 0x01, 0x00], 2),
            tensor("u32", .uint32, [0xff, 0xff, 0xff, 0xff], 1),
            tensor("f64", .double, Array(repeating: 0x3f, count: 8), 1),
            tensor("b", .bool, [1, 0, 1], 3),
            tensor("i64", .int64, Array(repeating: 0xff, count: 8), 1),
        ]
        let graph = Graph(
            nodes: [],
            inputs: [],
            outputs: tensors.map { ValueInfo(name: $0.name!, type: nil) },
            initializers: tensors)
        let model = Model(irVersion: 8, opsetImports: [OpsetImport(domain: "", version: 13)], graph: graph)
        let again = try ONNXExporter.encode(model).withUnsafeBytes {
            try ONNXImporter.importModel(bytes: $0, file: "memory", folder: nil)
        }
        #expect(again.graph.initializers == tensors)
    }
}

@Suite struct DecodedStorageTests {
    /// After detaching, no initializer borrows the decode arena, the bytes are the same, and the arena
    /// goes as soon as the imported model does.
    @Test func detachingReleasesTheDecodedFile() throws {
        var imported: Model? = try ONNXImporter.importModel(atPath: TestPaths.model("resnet-basic-v1.5"))
        weak var arena = imported!.graph.initializers.lazy.compactMap { $0.storage.borrowedFrom as? DecodeArena }.first
        #expect(arena != nil, "an inline model's weights borrow the memory it was decoded into")
        let detached = ONNXImporter.detachingDecodedStorage(imported!)
        #expect(!detached.graph.initializers.contains { $0.storage.borrowedFrom is DecodeArena })
        for (before, after) in zip(imported!.graph.initializers, detached.graph.initializers) {
            #expect(Array(before.storage.bytes) == Array(after.storage.bytes), "\(before.name ?? "")")
        }
        imported = nil
        #expect(arena == nil)
    }
}
