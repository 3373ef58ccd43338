import Foundation
import Testing
import TestSupport
import Resin
import ResinIR

/// The command line's contract: exit codes, messages that name the file, JSON keys, atomic writes.
@Suite struct CommandLineTests {
    @Test func inspectJSONHasTheInterfaceKeys() throws {
        let result = try runResin(["inspect", "--json", TestPaths.model("quirk-symbolic-batch")])
        #expect(result.status == 0, "\(result.standardError)")
        let object = try #require(JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        for key in ["format", "opsetVersion", "producer", "inputs", "outputs", "nodeCount", "operators",
                    "parameters", "parameterBytes", "macsPerImage"] {
            #expect(object[key] != nil, "missing key \(key)")
        }
        #expect(object["format"] as? String == "onnx")
        let inputs = try #require(object["inputs"] as? [[String: Any]])
        let shape = try #require(inputs.first?["shape"] as? [Any])
        #expect(shape.first as? String == "N", "a symbolic batch is reported by name")
        #expect(inputs.first?["dataType"] as? String == "float32")
    }

    /// `convert --no-optimize` to `.resin` keeps the imported graph: the same operators, no fused or prepared ones.
    /// The default conversion optimizes and prepares filters (FusedConv nodes).
    @Test func nativeConversionWithoutOptimizationKeepsTheImportedGraph() throws {
        let folder = try TemporaryFolder()
        func operators(_ path: String) throws -> [String: Int] {
            let result = try runResin(["inspect", "--json", path])
            #expect(result.status == 0, "\(result.standardError)")
            let object = try #require(JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
            return try #require(object["operators"] as? [String: Int])
        }
        let model = TestPaths.model("resnet-bottleneck-v1.5")
        for (options, name) in [(["--no-optimize"], "plain.resin"), ([], "optimized.resin")] {
            let result = try runResin(["convert"] + options + [model, folder.file(name)])
            #expect(result.status == 0, "\(result.standardError)")
        }
        #expect(try operators(folder.file("plain.resin")) == operators(model))
        let optimized = try operators(folder.file("optimized.resin"))
        #expect(optimized["BatchNormalization"] == nil)
        #expect((optimized["FusedConv"] ?? 0) > 0)
    }

    @Test func inspectTextAndDot() throws {
        let folder = try TemporaryFolder()
        let dot = folder.file("graph.dot")
        let result = try runResin(["inspect", TestPaths.model("resnet-basic-v1.5"), "--dot", dot])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("operators:"))
        let text = try String(contentsOfFile: dot, encoding: .utf8)
        #expect(text.hasPrefix("digraph"))
        #expect(text.contains("Conv"))
    }

    @Test func malformedModelExitsWithTwoAndNamesTheFile() throws {
        let folder = try TemporaryFolder()
        let path = folder.file("broken.onnx")
        let original = try Data(contentsOf: URL(fileURLWithPath: TestPaths.model("resnext")))
        try original.prefix(original.count / 2).write(to: URL(fileURLWithPath: path))
        for command in [["inspect", path], ["convert", path, folder.file("out.onnx")]] {
            let result = try runResin(command)
            #expect(result.status == 2)
            #expect(!result.crashed)
            #expect(result.standardError.hasPrefix("error: "))
            #expect(result.standardError.contains("broken.onnx"))
        }
        #expect(!FileManager.default.fileExists(atPath: folder.file("out.onnx")))
    }

    @Test func missingFileExitsWithTwo() throws {
        let result = try runResin(["inspect", "/nonexistent/model.onnx"])
        #expect(result.status == 2)
        #expect(result.standardError.contains("/nonexistent/model.onnx"))
    }

    @Test func usageErrorsExitWith64() throws {
        #expect(try runResin(["inspect"]).status == 64)
        #expect(try runResin(["convert", "a.onnx"]).status == 64)
        #expect(try runResin(["frobnicate"]).status == 64)
        #expect(try runResin(["inspect", "--batch", "0", TestPaths.model("resnext")]).status == 64)
    }

    @Test func failedConvertLeavesAnExistingOutputUntouched() throws {
        let folder = try TemporaryFolder()
        let output = folder.file("keep.onnx")
        try Data("precious".utf8).write(to: URL(fileURLWithPath: output))
        let bad = folder.file("bad.onnx")
        try Data("not a model".utf8).write(to: URL(fileURLWithPath: bad))
        let result = try runResin(["convert", bad, output])
        #expect(result.status == 2)
        #expect(try String(contentsOfFile: output, encoding: .utf8) == "precious")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        #expect(Set(leftovers) == ["keep.onnx", "bad.onnx"], "no temporary file is left behind")
    }

    @Test func convertRoundTripIsByteIdentical() throws {
        let folder = try TemporaryFolder()
        let output = folder.file("out.onnx")
        let result = try runResin(["convert", TestPaths.model("resnet-bottleneck-v1"), output])
        #expect(result.status == 0, "\(result.standardError)")
        let original = try Data(contentsOf: URL(fileURLWithPath: TestPaths.model("resnet-bottleneck-v1")))
        #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == original)
    }

    @Test func unwritableOutputExitsWithTwo() throws {
        let result = try runResin(["convert", TestPaths.model("resnext"), "/nonexistent-folder/out.onnx"])
        #expect(result.status == 2)
        #expect(result.standardError.contains("/nonexistent-folder/out.onnx"))
    }
}

/// `run`, `verify` and `bench` through the executable.
@Suite struct RunCommandTests {
    static let folder = TestPaths.fixtures + "/resnet-bottleneck-v1.5"

    @Test func runPrintsTheTopFivePerImage() throws {
        let result = try runResin(["run", TestPaths.model("resnet-bottleneck-v1.5"), "--input", Self.folder + "/test_data_set_0/input_0.pb"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("logits: float32 [1, 10]"))
        #expect(result.standardOutput.contains("image 0: top-5 "))
    }

    /// The `.npy` that `run --output` writes holds ONNX Runtime's output for the fixture's input (read back
    /// here and compared element by element with the tolerance `verify` uses in the test command).
    @Test func runWritesOutputsThatVerifyAgainstTheReference() throws {
        let temporary = try TemporaryFolder()
        let output = temporary.file("logits.npy")
        let run = try runResin(["run", TestPaths.model("resnet-bottleneck-v1.5"), "--input", "input=" + Self.folder + "/test_data_set_0/input_0.pb", "--output", output])
        #expect(run.status == 0, "\(run.standardError)")
        let written = try TensorFile.read(path: output)
        let expected = try TensorFile.read(path: Self.folder + "/test_data_set_0/output_0.pb")
        #expect(written.dataType == .float)
        #expect(written.shape == expected.shape)
        let actualValues = try #require(written.floatValues), expectedValues = try #require(expected.floatValues)
        #expect(actualValues.count == expectedValues.count)
        for (index, (actual, reference)) in zip(actualValues, expectedValues).enumerated() {
            #expect(abs(actual - reference) <= 1e-4 + 1e-4 * abs(reference), "element \(index): \(actual), ONNX Runtime \(reference)")
        }
    }

    @Test func verifyFailsWithExitCodeOneOnAMismatch() throws {
        let temporary = try TemporaryFolder()
        // Expectations from another fixture of the same output shape cannot match.
        let result = try runResin(["verify", TestPaths.model("resnet-bottleneck-v1.5"), "--input", Self.folder + "/test_data_set_0/input_0.pb",
                                   "--expected", TestPaths.fixtures + "/resnext/test_data_set_0/output_0.pb"])
        #expect(result.status == 1)
        #expect(result.standardOutput.contains("FAIL"))
        _ = temporary
    }

    @Test func verifyReadsTheTestCaseLayout() throws {
        let result = try runResin(["verify", TestPaths.fixtures + "/quirk-symbolic-batch", "--rtol", "1e-4", "--atol", "1e-4"])
        #expect(result.status == 0, "\(result.standardOutput)\(result.standardError)")
        #expect(result.standardOutput.contains("shape [2, 10]"))
    }

    @Test func malformedTensorFileExitsWithTwo() throws {
        let temporary = try TemporaryFolder()
        let bad = temporary.file("input.npy")
        try Data("\u{93}NUMPY garbage".utf8).write(to: URL(fileURLWithPath: bad))
        for command in [["run", TestPaths.model("resnext"), "--input", bad],
                        ["verify", TestPaths.model("resnext"), "--input", bad, "--expected", bad]] {
            let result = try runResin(command)
            #expect(result.status == 2)
            #expect(result.standardError.contains("input.npy"))
            #expect(!result.crashed)
        }
    }

    @Test func wrongInputShapeNamesTheInputAndBothShapes() throws {
        // resnet-basic-v1.5 takes [1, 3, 64, 64]; the bottleneck v1 fixture's input is [1, 3, 40, 40].
        let result = try runResin(["run", TestPaths.model("resnet-basic-v1.5"), "--input", TestPaths.fixtures + "/resnet-bottleneck-v1/test_data_set_0/input_0.pb"])
        #expect(result.status == 2)
        #expect(result.standardError.contains("'input'"))
        #expect(result.standardError.contains("[1, 3, 64, 64]"))
        #expect(result.standardError.contains("[1, 3, 40, 40]"))
    }

    @Test func unsupportedOperatorsAreListedTogether() throws {
        let result = try runResin(["run", TestPaths.model("quirk-proto-edge-cases"), "--input", TestPaths.fixtures + "/quirk-proto-edge-cases/test_data_set_0/input_0.pb"])
        #expect(result.status == 2)
        #expect(result.standardError.contains("unsupported operators"))
        #expect(result.standardError.contains("If") && result.standardError.contains("Cast"))
    }

    @Test func benchPrintsTheInterfaceKeys() throws {
        let result = try runResin(["bench", TestPaths.model("resnet-basic-v1.5"), "--iterations", "3", "--warmup", "1", "--json"])
        #expect(result.status == 0, "\(result.standardError)")
        let object = try #require(JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        for key in ["loadMs", "firstRunMs", "latencyMs", "imagesPerSecond", "batch", "threads", "arenaBytes", "peakResidentBytes"] {
            #expect(object[key] != nil, "missing \(key)")
        }
    }

    @Test func inspectReportsTheMemoryPlan() throws {
        let result = try runResin(["inspect", "--json", TestPaths.model("resnet-basic-v1.5")])
        let object = try #require(JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        let plan = try #require(object["memoryPlan"] as? [String: Any])
        let arena = try #require(plan["arenaBytes"] as? Int)
        let bound = try #require(plan["lowerBoundBytes"] as? Int)
        let noReuse = try #require(plan["noReuseBytes"] as? Int)
        #expect(bound <= arena && arena <= noReuse)
        #expect(plan["batch"] as? Int == 1)
    }
}
