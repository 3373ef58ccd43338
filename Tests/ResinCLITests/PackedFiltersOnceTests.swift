import Foundation
import Testing
import TestSupport
import Resin
import ResinIR
import ResinFormat

/// A native file stores packed filters in place of their original (issue 10: each filter once, in the
/// layout its kernel reads), and `.resin -> .onnx` rebuilds the original byte for byte.
@Suite struct PackedFiltersOnceTests {
    static let fixture = "resnet-bottleneck-v1.5"

    /// The fixture converted by the command line, and its graph as read back.
    static func converted(in folder: TemporaryFolder) throws -> (path: String, model: Model) {
        let path = folder.file("m.resin")
        let result = try runResin(["convert", TestPaths.model(fixture), path])
        #expect(result.status == 0, "\(result.standardError)")
        return (path, try ModelLoader.load(path: path).model)
    }

    /// The same graph written the way files were before: every packed filter's original kept beside it
    /// (the originals come from the optimized ONNX model, so they are the exact weights).
    static func writtenWithOriginals(_ model: Model, to path: String) throws {
        let originals = try ModelLoader.load(path: TestPaths.model(fixture), optimize: true).model.graph.initializersByName
        var model = model
        for index in model.graph.nodes.indices {
            let node = model.graph.nodes[index]
            guard case .fusedConv(var fused) = node.op, let weight = fused.weight else { continue }
            model.graph.nodes[index].inputs[1] = weight.name
            fused.weight = nil
            model.graph.nodes[index].op = .fusedConv(fused)
            model.graph.initializers.append(try #require(originals[weight.name]))
        }
        try NativeWriter.write(model, toPath: path, options: NativeWriteOptions())
    }

    static func fileSize(_ path: String) throws -> Int {
        try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
    }

    @Test func packedFiltersReplaceTheirOriginal() throws {
        let folder = try TemporaryFolder()
        let (path, model) = try Self.converted(in: folder)
        let names = Set(model.graph.initializers.compactMap(\.name))
        var packed = 0
        var originalBytes = 0
        for node in model.graph.nodes {
            guard case .fusedConv(let fused) = node.op, fused.prepared == .packed else { continue }
            packed += 1
            let weight = try #require(fused.weight, "\(node.displayName) keeps no record of its original")
            #expect(node.inputs[1].isEmpty, "\(node.displayName) still reads its original")
            #expect(!names.contains(weight.name), "'\(weight.name)' is stored beside its packed copy")
            #expect(names.contains(node.inputs[4]))
            originalBytes += weight.shape.reduce(4, *)
        }
        #expect(packed > 0)
        // The file is smaller than one keeping the originals by (at least) the originals' bytes.
        let old = folder.file("old.resin")
        try Self.writtenWithOriginals(model, to: old)
        #expect(try Self.fileSize(path) + originalBytes <= Self.fileSize(old))
    }

    /// Export gives the optimized ONNX model's initializers, name for name and byte for byte, from a file
    /// storing the packed filters only and from one keeping the originals beside them (older files).
    @Test func exportRebuildsTheOriginalsByteForByte() throws {
        let folder = try TemporaryFolder()
        let (path, model) = try Self.converted(in: folder)
        let old = folder.file("old.resin")
        try Self.writtenWithOriginals(model, to: old)
        let reference = try ModelLoader.load(path: TestPaths.model(Self.fixture), optimize: true).model.graph.initializers
        let expected = Dictionary(uniqueKeysWithValues: reference.map { ($0.name ?? "", $0) })
        for (source, name) in [(path, "new.onnx"), (old, "old.onnx")] {
            let result = try runResin(["convert", source, folder.file(name)])
            #expect(result.status == 0, "\(result.standardError)")
            let exported = try ModelLoader.load(path: folder.file(name)).model.graph.initializers
            #expect(Set(exported.compactMap(\.name)) == Set(expected.keys), "\(name)")
            for tensor in exported {
                let original = try #require(expected[tensor.name ?? ""])
                #expect(tensor.shape == original.shape, "\(name): \(tensor.name ?? "")")
                #expect(Array(tensor.storage.bytes) == Array(original.storage.bytes), "\(name): \(tensor.name ?? "")")
            }
        }
    }

    /// The classifier Gemm's row product reads W as ONNX stores it, so a native file keeps the Gemm and its
    /// weights unchanged, and `.resin -> .onnx` gives them back byte for byte.
    @Test func classifierWeightsStayAsStored() throws {
        let folder = try TemporaryFolder()
        let (path, model) = try Self.converted(in: folder)
        let reference = try ModelLoader.load(path: TestPaths.model(Self.fixture), optimize: true).model.graph.initializersByName
        let gemm = try #require(model.graph.nodes.first { $0.opType == "Gemm" || $0.opType == "FusedGemm" }, "no Gemm in the fixture")
        let stored = try #require(model.graph.initializersByName[gemm.inputs[1]], "\(gemm.inputs[1]) is not stored")
        let original = try #require(reference[gemm.inputs[1]])
        #expect(stored.shape == original.shape && Array(stored.storage.bytes) == Array(original.storage.bytes))
        let result = try runResin(["convert", path, folder.file("back.onnx")])
        #expect(result.status == 0, "\(result.standardError)")
        let exported = try ModelLoader.load(path: folder.file("back.onnx")).model.graph.initializersByName
        let back = try #require(exported[gemm.inputs[1]])
        #expect(back.shape == original.shape && Array(back.storage.bytes) == Array(original.storage.bytes))
    }

    /// `inspect` counts the original filters of a native file, as of the optimized ONNX model.
    @Test func inspectReportsTheONNXModelsParameters() throws {
        let folder = try TemporaryFolder()
        let (path, _) = try Self.converted(in: folder)
        func report(_ arguments: [String]) throws -> [String: Any] {
            let result = try runResin(["inspect", "--json"] + arguments)
            #expect(result.status == 0, "\(result.standardError)")
            return try #require(JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        }
        let onnx = try report(["--optimize", TestPaths.model(Self.fixture)])
        let native = try report([path])
        for key in ["parameters", "parameterBytes", "macsPerImage"] {
            let value = try #require(native[key] as? Int, "\(key)")
            #expect(value == onnx[key] as? Int, "\(key)")
            #expect(value > 0)
        }
    }
}

/// A native file whose recorded original does not fit its packed filters is an error naming them, on export
/// and on load, never a crash or a wrong rebuild.
@Suite struct PackedFiltersOnceHostileTests {
    @Test(arguments: [[32, 0, 0, 0], [0, 0, 1, 1]])
    func aRecordedShapeThatDoesNotFitIsRefused(grow: [Int]) throws {
        let folder = try TemporaryFolder()
        var (_, model) = try PackedFiltersOnceTests.converted(in: folder)
        let index = try #require(model.graph.nodes.firstIndex { node in
            if case .fusedConv(let fused) = node.op { return fused.weight != nil }
            return false
        })
        guard case .fusedConv(var fused) = model.graph.nodes[index].op, let weight = fused.weight else { return }
        fused.weight = OriginalWeight(name: weight.name, shape: zip(weight.shape, grow).map(+))
        model.graph.nodes[index].op = .fusedConv(fused)
        let path = folder.file("tampered.resin")
        try NativeWriter.write(model, toPath: path, options: NativeWriteOptions())
        let exported = try runResin(["convert", path, folder.file("back.onnx")])
        #expect(exported.status == 2, "\(exported.standardError)")
        #expect(exported.standardError.contains(model.graph.nodes[index].inputs[4]), "\(exported.standardError)")
        let folderName = TestPaths.fixtures + "/" + PackedFiltersOnceTests.fixture + "/test_data_set_0"
        let verified = try runResin(["verify", path, "--input", folderName + "/input_0.pb", "--expected", folderName + "/output_0.pb"])
        #expect(verified.status == 2, "\(verified.standardError)")
        #expect(verified.standardError.contains(model.graph.nodes[index].displayName), "\(verified.standardError)")
    }
}
