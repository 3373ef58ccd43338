import Foundation
import Resin
import ResinRuntime
import Testing
import TestSupport

/// The public API on the bundled fixtures: loading, what a model says about itself, runs against ONNX
/// Runtime's stored outputs, and the errors each misuse gets.
@Suite struct ModelAPITests {
    static let fixture = "resnet-bottleneck-v1.5"

    @Test func describesItsInputsOutputsAndMetadata() throws {
        let model = try Model(contentsOf: APIFixture.modelPath(Self.fixture))
        #expect(model.name == "model")
        #expect(model.metadata.format == .onnx)
        // The fixture's meta.json, written by the generator that exported it, says what the file declares.
        let meta = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: "\(TestPaths.fixtures)/\(Self.fixture)/meta.json"))) as? [String: Any]
        let declared = try #require((meta?["inputs"] as? [[String: Any]])?.first)
        let input = try #require(model.inputs.first)
        #expect(input.name == declared["name"] as? String)
        #expect(input.elementType == .float32)
        #expect(input.shape == (declared["shape"] as? [Int])?.map { .fixed($0) })
        #expect(model.outputs.count == 1)
        #expect(model.parameterCount > 0)
        #expect(model.metadata.opsetVersion != nil)
    }

    @Test(arguments: ["resnet-bottleneck-v1.5", "resnet-preact-v2", "quirk-symbolic-batch"])
    func runsLikeONNXRuntime(_ name: String) throws {
        let model = try Model(contentsOf: APIFixture.modelPath(name))
        let input = try APIFixture.tensor(name, "input_0.pb")
        let expected = try APIFixture.tensor(name, "output_0.pb")
        let inputName = try #require(model.inputs.first?.name)
        let options = InferenceSession.Options(threads: 1).fitting([inputName: input], of: model)
        let session = try InferenceSession(model: model, options: options)
        let outputs = try session.run([inputName: input])
        let outputName = try #require(model.outputs.first?.name)
        let output = try #require(outputs[outputName])
        APIFixture.expectClose(output, expected)
    }

    /// A `.resin` file written by the library loads as `.resin` and runs to the same outputs.
    @Test func writesAndReloadsNativeFiles() throws {
        let folder = try TemporaryFolder()
        let model = try Model(contentsOf: APIFixture.modelPath(Self.fixture))
        let path = folder.file("copy.resin")
        try model.write(to: path, format: .resin)
        let native = try Model(contentsOf: path)
        #expect(native.metadata.format == .resin)
        #expect(native.name == "copy")
        #expect(native.inputs == model.inputs)
        let input = try APIFixture.tensor(Self.fixture, "input_0.pb")
        let session = try InferenceSession(model: native, options: .init(threads: 1))
        let output = try #require(try session.run([native.inputs[0].name: input])[native.outputs[0].name])
        APIFixture.expectClose(output, try APIFixture.tensor(Self.fixture, "output_0.pb"))
    }

    @Test func missingAndMalformedFilesAreTypedErrors() throws {
        let folder = try TemporaryFolder()
        let missing = folder.file("absent.onnx")
        #expect { try Model(contentsOf: missing) } throws: { error in
            guard case .unreadableFile(let path, _) = error as? ResinError else { return false }
            return path == missing && "\(error)".hasPrefix(missing + ": ")
        }
        let garbage = folder.file("garbage.onnx")
        try Data([0xff, 0xff, 0xff, 0x01, 0x02]).write(to: URL(fileURLWithPath: garbage))
        #expect { try Model(contentsOf: garbage) } throws: { error in
            guard case .invalidModel(let path, _, _, _) = error as? ResinError else { return false }
            return path == garbage
        }
    }

    @Test func inputErrorsNameTheInputAndShapes() throws {
        let model = try Model(contentsOf: APIFixture.modelPath(Self.fixture))
        let session = try InferenceSession(model: model, options: .init(threads: 1))
        let info = session.inputs[0]
        let shape = try APIFixture.sizes(info.shape)
        #expect(throws: ResinError.missingInput(name: info.name)) { try session.run([:]) }
        let good = try APIFixture.input(shape: shape, seed: 1)
        #expect(throws: ResinError.unknownInput(name: "nope", inputs: [info.name])) { try session.run([info.name: good, "nope": good]) }
        let wrongShape = try APIFixture.input(shape: [shape.reduce(1, *)], seed: 1)
        #expect { try session.run([info.name: wrongShape]) } throws: { error in
            guard case .inputMismatch(let name, let expected, let actual)? = error as? ResinError else { return false }
            return name == info.name && expected.contains("float32") && actual.contains("[\(shape.reduce(1, *))]")
        }
        // float64 to float32 would round the caller's values: refused, not converted.
        let doubles = try Tensor(shape: shape, elements: [Double](repeating: 0.1, count: shape.reduce(1, *)))
        #expect { try session.run([info.name: doubles]) } throws: { error in
            guard case .inputMismatch(let name, _, let actual)? = error as? ResinError else { return false }
            return name == info.name && actual.hasPrefix("float64")
        }
    }

    @Test func memoryLimitIsATypedError() throws {
        let model = try Model(contentsOf: APIFixture.modelPath(Self.fixture))
        #expect { try InferenceSession(model: model, options: .init(threads: 1, memoryLimit: 1024)) } throws: { error in
            guard case .memoryLimitExceeded(let path, let bytes, let limit, _)? = error as? ResinError else { return false }
            return path == model.path && limit == 1024 && bytes > limit
        }
    }
}

/// Tensors: made from arrays and bytes, read back, converted only when nothing is lost.
@Suite struct TensorAPITests {
    @Test func roundTripsElementsAndBytes() throws {
        let values: [Int32] = [1, -2, 3, Int32.max, Int32.min, 0]
        let tensor = try Tensor(shape: [2, 3], elements: values)
        #expect(tensor.elementType == .int32 && tensor.byteCount == 24)
        #expect(try tensor.elements(as: Int32.self) == values)
        let copy = try tensor.withUnsafeBytes { try Tensor(shape: [3, 2], elementType: .int32, bytes: $0) }
        #expect(try copy.elements(as: Int32.self) == values)
        #expect(throws: ResinError.self) { try tensor.elements(as: Float.self) }
        #expect(throws: ResinError.self) { try Tensor(shape: [4], elements: values) }
        #expect(throws: ResinError.self) { try Tensor(shape: [-1, -6], elements: values) }
        let filled = try Tensor(shape: [4], elementType: .float32) { buffer in
            for index in 0..<4 { buffer.storeBytes(of: Float(index) * 0.5, toByteOffset: index * 4, as: Float.self) }
        }
        #expect(try filled.elements(as: Float.self) == [0, 0.5, 1, 1.5])
    }

    @Test func convertsOnlyWithoutLoss() throws {
        let widened = try Tensor(shape: [3], elements: [Int32(-7), 0, Int32.max]).converted(to: .int64)
        #expect(try widened.elements(as: Int64.self) == [-7, 0, Int64(Int32.max)])
        let halves = try Tensor(shape: [2], elements: [UInt8(255), 3]).converted(to: .float32)
        #expect(try halves.elements(as: Float.self) == [255, 3])
        #expect(throws: ResinError.self) { try Tensor(shape: [1], elements: [0.1 as Double]).converted(to: .float32) }
        #expect(throws: ResinError.self) { try Tensor(shape: [1], elements: [Int64(1) << 40]).converted(to: .int32) }
    }
}

/// Many inputs through a fixed-batch session: ceil(N/b) runs, the last padded, outputs joined in order.
@Suite struct BatchedRunTests {
    @Test(arguments: [(rows: 5, batch: 2), (rows: 4, batch: 2), (rows: 1, batch: 3)])
    func matchesOneRunPerInput(rows: Int, batch: Int) throws {
        let model = try Model(contentsOf: APIFixture.modelPath("quirk-symbolic-batch"))
        let info = try #require(model.inputs.first)
        let imageShape = try APIFixture.sizes(info.shape.map { Array($0.dropFirst()) })
        let batched = try InferenceSession(model: model, options: .init(batch: batch, threads: 1))
        let single = try InferenceSession(model: model, options: .init(batch: 1, threads: 1))
        let images = try (0..<rows).map { try APIFixture.input(shape: [1] + imageShape, seed: UInt64(40 + $0)) }
        let stacked = try Tensor(shape: [rows] + imageShape, elementType: .float32) { buffer in
            var offset = 0
            for image in images {
                image.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[offset...]).copyMemory(from: $0) }
                offset += image.byteCount
            }
        }
        let outputName = model.outputs[0].name
        let output = try #require(try batched.runInBatches([info.name: stacked])[outputName])
        #expect(output.shape.first == rows)
        let rowCount = output.elementCount / rows
        let values = try output.elements(as: Float.self)
        for (index, image) in images.enumerated() {
            // The reference is a separate batch-1 session: a different kernel schedule, so equal to rounding.
            let reference = try #require(try single.run([info.name: image])[outputName])
            let row = try Tensor(shape: reference.shape, elements: Array(values[(index * rowCount)..<((index + 1) * rowCount)]))
            APIFixture.expectClose(row, reference, rtol: 1e-4, atol: 1e-5)
        }
    }
}

/// Arenas share the weights: a `.resin` model's sessions point into the file's one mapping and prepare no
/// filters of their own, so a pool of N arenas holds the weights once.
@Suite struct SharedWeightTests {
    @Test func nativeSessionsPointIntoTheMapping() throws {
        let folder = try TemporaryFolder()
        let path = folder.file("m.resin")
        try Model(contentsOf: APIFixture.modelPath("resnet-bottleneck-v1.5")).write(to: path, format: .resin)
        let native = try Model(contentsOf: path)
        let initializers = native.loaded.model.graph.initializers
        try #require(!initializers.isEmpty)
        for initializer in initializers {
            #expect(initializer.storage.borrowedFrom != nil, "initializer \(initializer.name ?? "?") was copied out of the mapping")
        }
        let memory = try Session.planMemory(model: native.loaded.model, options: SessionOptions(threads: 1))
        #expect(memory.preparedWeightBytes == 0, "each arena's session would prepare \(memory.preparedWeightBytes) bytes of filters")
        // The same model from ONNX prepares its filters per session: the check above can tell the two apart.
        let onnx = try Model(contentsOf: APIFixture.modelPath("resnet-bottleneck-v1.5"))
        #expect(try Session.planMemory(model: onnx.loaded.model, options: SessionOptions(threads: 1)).preparedWeightBytes > 0)
    }
}

/// Fixed inputs: the policy fixes integer inputs, and a run may repeat a fixed input only with its value.
@Suite struct FixedInputTests {
    @Test func aFixedInputCannotChangeBetweenRuns() throws {
        let model = try Model(contentsOf: APIFixture.modelPath("resnet-bottleneck-v1.5"))
        let info = model.inputs[0]
        let image = try APIFixture.input(shape: APIFixture.sizes(info.shape), seed: 7)
        // The image input fixed on purpose: the session then has no inputs left to feed.
        let session = try InferenceSession(model: model, options: .init(threads: 1, fixedInputs: [info.name: image]))
        #expect(session.inputs.isEmpty)
        let fixedRun = try session.run([:])
        #expect(try session.run([info.name: image]) == fixedRun)
        let other = try APIFixture.input(shape: APIFixture.sizes(info.shape), seed: 8)
        #expect { try session.run([info.name: other]) } throws: { error in
            guard case .inputMismatch(let name, _, _)? = error as? ResinError else { return false }
            return name == info.name
        }
        // The fixed session computes what a fed one does for the same image (to rounding: with every input
        // fixed, the whole graph folds to constants through the reference evaluator's kernels).
        let fed = try InferenceSession(model: model, options: .init(threads: 1))
        let outputName = model.outputs[0].name
        APIFixture.expectClose(try #require(fixedRun[outputName]), try #require(try fed.run([info.name: image])[outputName]), rtol: 1e-4, atol: 1e-5)
    }
}

/// `ResinError.description` is the line `resin` prints for the same failure.
@Suite struct ErrorMessageTests {
    @Test func messagesMatchTheCommandLine() throws {
        let folder = try TemporaryFolder()
        let garbage = folder.file("garbage.onnx")
        try Data([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]).write(to: URL(fileURLWithPath: garbage))
        let fixture = APIFixture.modelPath("resnet-bottleneck-v1.5")
        let input = "\(TestPaths.fixtures)/resnet-bottleneck-v1.5/test_data_set_0/input_0.pb"
        let cases: [(arguments: [String], error: () throws -> Void)] = [
            (["run", folder.file("absent.onnx"), "--input", input], { _ = try Model(contentsOf: folder.file("absent.onnx")) }),
            (["run", garbage, "--input", input], { _ = try Model(contentsOf: garbage) }),
            (["run", fixture, "--input", input, "--threads", "1", "--max-memory", "4096"], {
                _ = try InferenceSession(model: Model(contentsOf: fixture), options: .init(threads: 1, memoryLimit: 4096))
            }),
        ]
        for (arguments, makeError) in cases {
            let result = try runResin(arguments)
            #expect(result.status == 2, "\(arguments)")
            #expect { try makeError() } throws: { error in
                guard let error = error as? ResinError else { return false }
                let printed = result.standardError.trimmingCharacters(in: .newlines)
                #expect(printed == "error: \(error)", "resin \(arguments.joined(separator: " "))")
                return true
            }
        }
    }
}
