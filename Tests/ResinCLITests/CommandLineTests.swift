import Foundation
import Testing
import TestSupport

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
