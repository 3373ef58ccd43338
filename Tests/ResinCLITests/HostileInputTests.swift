import Foundation
import Resin
import ResinIR
import ResinONNX
import Testing
import TestSupport

/// Models and input tensors made to hurt: huge declared dimensions, a memory limit, inputs of the wrong
/// type, rank or shape (exit 2 naming the file, the input and both types and shapes), and NaN and
/// infinity, which run and propagate as IEEE 754 says.
@Suite struct HostileInputTests {
    static let fixture = TestPaths.fixtures + "/resnet-basic-v1.5"
    static let fixtureInput = fixture + "/test_data_set_0/input_0.pb"
    static let fixtureOutput = fixture + "/test_data_set_0/output_0.pb"

    /// The fixture's ResNet with its input's batch declared as `batch`, as an ONNX test-case folder
    /// (model.onnx and the fixture's test data), in `folder`.
    static func hugeBatchCase(_ batch: Int, in folder: TemporaryFolder) throws -> String {
        var model = try ONNXImporter.importModel(atPath: fixture + "/model.onnx")
        model.graph.inputs[0].type = .tensor(.float, [.fixed(batch), .fixed(3), .fixed(64), .fixed(64)])
        let directory = folder.file("case-\(batch)")
        try FileManager.default.createDirectory(atPath: directory + "/test_data_set_0", withIntermediateDirectories: true)
        try ONNXExporter.write(model, toPath: directory + "/model.onnx")
        for name in ["input_0.pb", "output_0.pb"] {
            try FileManager.default.copyItem(atPath: fixture + "/test_data_set_0/" + name, toPath: directory + "/test_data_set_0/" + name)
        }
        return directory
    }

    /// Every command that would make a session exits 2 with one message, and nothing crashes.
    @Test(arguments: [(exponent: 40, mentions: "1099511627776"), (exponent: 62, mentions: "4611686018427387904")])
    func hugeDeclaredDimensionsExitWithTwo(exponent: Int, mentions: String) throws {
        let folder = try TemporaryFolder()
        let directory = try Self.hugeBatchCase(1 << exponent, in: folder)
        let model = directory + "/model.onnx"
        let commands = [
            ["inspect", model], ["inspect", "--json", model], ["inspect", "--optimize", model],
            ["run", model, "--input", Self.fixtureInput],
            ["verify", model, "--input", Self.fixtureInput, "--expected", Self.fixtureOutput], ["verify", directory],
            ["bench", model, "--iterations", "1", "--warmup", "0"],
        ]
        for command in commands {
            let result = try runResin(command)
            #expect(!result.crashed && !result.timedOut, "\(command): \(result.standardError)")
            #expect(result.status == 2, "\(command) exited \(result.status): \(result.standardError)")
            let lines = result.standardError.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].hasPrefix("error: "), "\(command): \(result.standardError)")
            #expect(result.standardError.contains(mentions), "\(command): \(result.standardError)")
        }
    }

    /// `inspect` still reports the plan of a model too big to run, and says it does not fit.
    @Test func inspectReportsAPlanThatDoesNotFit() throws {
        let folder = try TemporaryFolder()
        let model = try Self.hugeBatchCase(1 << 40, in: folder) + "/model.onnx"
        let result = try runResin(["inspect", "--json", model])
        #expect(result.status == 2)
        let object = try #require(JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        let plan = try #require(object["memoryPlan"] as? [String: Any])
        let inputBytes = (1 << 40) * 3 * 64 * 64 * 4
        #expect(try #require(plan["arenaBytes"] as? Int) >= inputBytes)
        #expect(plan["fitsMemoryLimit"] as? Bool == false)
        #expect(result.standardError.contains("\(inputBytes) bytes"), "names the input's bytes: \(result.standardError)")
    }

    @Test func maxMemoryBoundsEverySession() throws {
        let model = Self.fixture + "/model.onnx"
        let inspect = try runResin(["inspect", "--json", model])
        #expect(inspect.status == 0, "\(inspect.standardError)")
        let object = try #require(JSONSerialization.jsonObject(with: Data(inspect.standardOutput.utf8)) as? [String: Any])
        let plan = try #require(object["memoryPlan"] as? [String: Any])
        let required = try #require(plan["requiredBytes"] as? Int)
        #expect(plan["fitsMemoryLimit"] as? Bool == true)
        let under = String(required - 1), enough = String(required)
        let commands: [(arguments: [String], success: Int32)] = [
            (["inspect", model], 0),
            (["run", model, "--input", Self.fixtureInput], 0),
            (["verify", model, "--input", Self.fixtureInput, "--expected", Self.fixtureOutput], 0),
            (["bench", model, "--iterations", "1", "--warmup", "0"], 0),
        ]
        for (arguments, success) in commands {
            let refused = try runResin(arguments + ["--max-memory", under])
            #expect(refused.status == 2, "\(arguments) with --max-memory \(under): \(refused.standardError)")
            #expect(refused.standardError.contains("above the memory limit of \(under) bytes"), "\(refused.standardError)")
            let allowed = try runResin(arguments + ["--max-memory", enough])
            #expect(allowed.status == success, "\(arguments) with --max-memory \(enough): \(allowed.standardError)")
        }
        #expect(try runResin(["run", model, "--input", Self.fixtureInput, "--max-memory", "0"]).status == 64)
    }

    /// An input file of the wrong type, rank or shape: exit 2, naming the file, the input, and what the
    /// model expects against what the file holds.
    @Test(arguments: [
        (file: "int64.npy", tensor: Tensor.int64s(Array(repeating: 0, count: 3 * 64 * 64), shape: [1, 3, 64, 64]), found: "int64 [1, 3, 64, 64]"),
        (file: "rank3.npy", tensor: Tensor.floats(Array(repeating: 0, count: 3 * 64 * 64), shape: [3, 64, 64]), found: "float32 [3, 64, 64]"),
        (file: "shape.npy", tensor: Tensor.floats(Array(repeating: 0, count: 3 * 64 * 32), shape: [1, 3, 64, 32]), found: "float32 [1, 3, 64, 32]"),
        (file: "batch.npy", tensor: Tensor.floats(Array(repeating: 0, count: 2 * 3 * 64 * 64), shape: [2, 3, 64, 64]), found: "float32 [2, 3, 64, 64]"),
    ])
    func wrongInputTensorsExitWithTwo(file: String, tensor: Tensor, found: String) throws {
        let folder = try TemporaryFolder()
        let path = folder.file(file)
        try TensorFile.write(tensor, to: path)
        let model = Self.fixture + "/model.onnx"
        for command in [["run", model, "--input", path], ["verify", model, "--input", path, "--expected", Self.fixtureOutput]] {
            let result = try runResin(command)
            #expect(!result.crashed)
            #expect(result.status == 2, "\(command): \(result.standardError)")
            let message = result.standardError
            #expect(message.contains(path) && message.contains("'input'"), "\(message)")
            #expect(message.contains("expects float32 [1, 3, 64, 64]") && message.contains("found \(found)"), "\(message)")
        }
    }

    /// NaN and infinity in the inputs run and come out where IEEE 754 puts them: NaN + 1 is NaN, inf + 1
    /// is inf, a mean over a channel holding NaN is NaN, over +inf and -inf NaN, over +inf alone inf, and
    /// Relu is max(0, x) with NaN propagating (as NumPy's maximum and ONNX Runtime do). The expected
    /// values are written out here, not taken from a run.
    @Test func nanAndInfinityPropagateAsIEEESays() throws {
        let nan = Float.nan, inf = Float.infinity
        func value(_ name: String) -> ValueInfo { ValueInfo(name: name, type: .tensor(.float, [.fixed(1), .fixed(4), .fixed(2), .fixed(2)])) }
        let graph = Graph(
            nodes: [
                Node(name: "add", opType: "Add", inputs: ["x", "y"], outputs: ["s"], op: .binary(.add)),
                Node(name: "pool", opType: "GlobalAveragePool", inputs: ["s"], outputs: ["g"], op: .globalAveragePool),
                Node(name: "relu", opType: "Relu", inputs: ["s"], outputs: ["r"], op: .relu),
            ],
            inputs: [value("x"), value("y")], outputs: [ValueInfo(name: "s", type: nil), ValueInfo(name: "g", type: nil), ValueInfo(name: "r", type: nil)])
        let model = Model(irVersion: 8, opsetImports: [OpsetImport(domain: "", version: 13)], graph: graph)
        let folder = try TemporaryFolder()
        try ONNXExporter.write(model, toPath: folder.file("model.onnx"))
        let x: [Float] = [nan, 1, 2, 3, inf, 1, 2, 3, inf, -inf, 0, 0, 1, 2, 3, 4]
        try TensorFile.write(.floats(x, shape: [1, 4, 2, 2]), to: folder.file("x.npy"))
        try TensorFile.write(.floats(Array(repeating: 1, count: 16), shape: [1, 4, 2, 2]), to: folder.file("y.npy"))
        let expected: [String: [Float]] = [
            "s": [nan, 2, 3, 4, inf, 2, 3, 4, inf, -inf, 1, 1, 2, 3, 4, 5],
            "g": [nan, inf, nan, 3.5],
            "r": [nan, 2, 3, 4, inf, 2, 3, 4, inf, 0, 1, 1, 2, 3, 4, 5],
        ]
        for optimize in ["--optimize", "--no-optimize"] {
            let result = try runResin(["run", folder.file("model.onnx"), "--input", "x=" + folder.file("x.npy"),
                                       "--input", "y=" + folder.file("y.npy"), "--output-dir", folder.path, optimize])
            #expect(result.status == 0, "\(result.standardError)")
            for (name, values) in expected.sorted(by: { $0.key < $1.key }) {
                let actual = try TensorFile.read(path: folder.file(name + ".npy"))
                let floats = try #require(actual.floatValues, "\(name) is not float32")
                try #require(floats.count == values.count, "\(name) has \(floats.count) elements")
                for (index, (got, want)) in zip(floats, values).enumerated() {
                    #expect(want.isNaN ? got.isNaN : got == want, "\(name)[\(index)] \(optimize): \(got), IEEE says \(want)")
                }
            }
        }
    }
}
