import Foundation
import Testing
import TestSupport

/// `resin run MODEL --image/--images` and `resin convert --preprocess/--labels` through the built command,
/// on a 10-class fixture with a symbolic batch and PNG images the tools' Pillow writes; scores are checked
/// against ONNX Runtime on a tensor numpy makes from the same pixels.
@Suite struct ImageRunCommandTests {
    static let model = TestPaths.model("quirk-symbolic-batch")
    /// The fixture takes 32 x 32 images: a recipe that keeps them as they are.
    static let recipe = ["--resize", "32", "--crop", "32"]

    /// Writes `count` seeded 32 x 32 PNGs named img-0.png... into the folder and returns, per image, ONNX
    /// Runtime's softmax scores on the ImageNet-normalised NCHW tensor of its pixels (resizing a 32 x 32
    /// image to 32 and center-cropping 32 changes nothing, so no resampling enters the reference).
    private func makeImages(_ count: Int, in folder: TemporaryFolder) throws -> [[Double]] {
        let script = """
            import json, sys
            import numpy as np
            import onnxruntime as ort
            from PIL import Image
            folder, count, model = sys.argv[1], int(sys.argv[2]), sys.argv[3]
            rng = np.random.default_rng(5)
            mean = np.array([0.485, 0.456, 0.406], np.float32); std = np.array([0.229, 0.224, 0.225], np.float32)
            session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
            scores = []
            for i in range(count):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels, "RGB").save(f"{folder}/img-{i}.png")
                x = ((pixels.astype(np.float32) / 255 - mean) / std).transpose(2, 0, 1)[None]
                logits = session.run(None, {session.get_inputs()[0].name: x})[0][0].astype(np.float64)
                e = np.exp(logits - logits.max())
                scores.append((e / e.sum()).tolist())
            print(json.dumps(scores))
            """
        let result = try runProgram(TestPaths.python, ["-c", script, folder.path, String(count), Self.model], timeout: 120)
        try #require(result.status == 0, "the reference script failed: \(result.standardError)")
        return try #require(JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [[Double]])
    }

    private func records(_ output: String) throws -> [[String: Any]] {
        try output.split(separator: "\n").map { line in
            try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
    }

    private func labels(_ count: Int, in folder: TemporaryFolder, name: String = "labels.txt") throws -> String {
        let path = folder.file(name)
        try (0..<count).map { "class \($0), \"quoted\"\n" }.joined().write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The top 5 of each image are ONNX Runtime's five highest probabilities, highest first, within 1e-4;
    /// batches of 3 over 7 images exercise a padded last batch.
    @Test func topFiveMatchONNXRuntime() throws {
        let folder = try TemporaryFolder()
        let expected = try makeImages(7, in: folder)
        let images = (0..<7).map { folder.file("img-\($0).png") }
        let result = try runResin(["run", Self.model, "--image"] + images + Self.recipe + ["--format", "json", "--batch", "3", "--threads", "2"])
        #expect(result.status == 0, "\(result.standardError)")
        let found = try records(result.standardOutput)
        #expect(found.map { $0["image"] as? String } == images)
        for (record, scores) in zip(found, expected) {
            let top = try #require(record["top"] as? [[String: Any]])
            let order = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }.prefix(5)
            #expect(top.compactMap { $0["class"] as? Int } == Array(order), "\(record)")
            for entry in top {
                let score = try #require(entry["score"] as? Double)
                let index = try #require(entry["class"] as? Int)
                #expect(abs(score - scores[index]) <= 1e-4, "class \(index): \(score) vs \(scores[index])")
                #expect(entry["label"] is NSNull)
            }
        }
    }

    /// A corrupt image gets an error record and the rest are scored (exit 1); with --fail-fast the run
    /// stops at it with exit 2, naming the file, and leaves no output file.
    @Test func perImageErrorsAndFailFast() throws {
        let folder = try TemporaryFolder()
        _ = try makeImages(2, in: folder)
        let bad = folder.file("img-1b.png")
        try Data("<html>not a picture</html>".utf8).write(to: URL(fileURLWithPath: bad))
        let result = try runResin(["run", Self.model, "--images", folder.path, "--format", "json"] + Self.recipe)
        #expect(result.status == 1, "\(result.standardError)")
        #expect(!result.crashed)
        let found = try records(result.standardOutput)
        #expect(found.map { ($0["image"] as? String).map { URL(fileURLWithPath: $0).lastPathComponent } } == ["img-0.png", "img-1.png", "img-1b.png"])
        #expect((found[2]["error"] as? String)?.isEmpty == false)
        #expect((found[0]["top"] as? [Any])?.count == 5 && (found[1]["top"] as? [Any])?.count == 5)

        let output = folder.file("out.jsonl")
        let stopped = try runResin(["run", Self.model, "--images", folder.path, "--fail-fast", "--output", output] + Self.recipe)
        #expect(stopped.status == 2)
        #expect(!stopped.crashed)
        #expect(stopped.standardError.contains("img-1b.png"), "\(stopped.standardError)")
        #expect(!FileManager.default.fileExists(atPath: output))
        #expect(!FileManager.default.fileExists(atPath: folder.file(".out.jsonl.partial")))
    }

    @Test func labelCountMismatchNamesBothCounts() throws {
        let folder = try TemporaryFolder()
        _ = try makeImages(1, in: folder)
        let result = try runResin(["run", Self.model, "--image", folder.file("img-0.png"), "--labels", try labels(3, in: folder)] + Self.recipe)
        #expect(result.status == 2)
        #expect(result.standardError.contains("3 names") && result.standardError.contains("10 classes"), "\(result.standardError)")
        let converted = try runResin(["convert", Self.model, folder.file("m.onnx"), "--labels", try labels(11, in: folder)])
        #expect(converted.status == 2)
        #expect(converted.standardError.contains("11") && converted.standardError.contains("10 classes"), "\(converted.standardError)")
        #expect(!FileManager.default.fileExists(atPath: folder.file("m.onnx")))
    }

    /// --output appears whole (no temporary file left, a stale one from a killed run replaced); --resume
    /// with an existing output does nothing, not even open the model.
    @Test func outputIsAtomicAndResumeSkipsFinishedShards() throws {
        let folder = try TemporaryFolder()
        _ = try makeImages(3, in: folder)
        let stale = folder.file(".part-1.csv.partial")
        try Data("half a record".utf8).write(to: URL(fileURLWithPath: stale))
        let pattern = folder.file("part-{shard}.csv")
        let arguments = ["run", Self.model, "--images", folder.path, "--format", "csv", "--output", pattern, "--shard", "1/2", "--resume"] + Self.recipe
        let result = try runResin(arguments)
        #expect(result.status == 0, "\(result.standardError)")
        let written = try String(contentsOfFile: folder.file("part-1.csv"), encoding: .utf8)
        // Shard 1 of 2 of 3 images: the last two.
        let rows = written.split(separator: "\n")
        #expect(rows.first == "image,rank,class,label,score,error")
        #expect(rows.dropFirst().map { $0.split(separator: ",")[0] } == Array(repeating: Substring(folder.file("img-1.png")), count: 5)
                + Array(repeating: Substring(folder.file("img-2.png")), count: 5))
        #expect(!FileManager.default.fileExists(atPath: stale))

        var resumed = arguments
        resumed[1] = folder.file("no-such-model.onnx")
        let again = try runResin(resumed)
        #expect(again.status == 0, "\(again.standardError)")
        #expect(again.standardError.contains("done"))
        #expect(try String(contentsOfFile: folder.file("part-1.csv"), encoding: .utf8) == written)

        let unset = try runResin(["run", Self.model, "--images", folder.path, "--shard", "auto"] + Self.recipe,
                                 environment: ["JOB_COMPLETION_INDEX": "0"])
        #expect(unset.status == 2)
        #expect(unset.standardError.contains("JOB_COMPLETIONS"), "\(unset.standardError)")
    }

    /// convert --preprocess/--labels stores both in the model: a run needs no recipe options and reports
    /// the names, and .resin -> .onnx keeps them as metadata_props (read back by the onnx package).
    @Test func convertStoresTheRecipeAndLabelsForRun() throws {
        let folder = try TemporaryFolder()
        _ = try makeImages(2, in: folder)
        let native = folder.file("m.resin")
        let converted = try runResin(["convert", Self.model, native, "--preprocess", "imagenet"] + Self.recipe + ["--labels", try labels(10, in: folder)])
        #expect(converted.status == 0, "\(converted.standardError)")
        let exported = folder.file("m.onnx")
        #expect(try runResin(["convert", native, exported]).status == 0)
        let explicit = try runResin(["run", Self.model, "--images", folder.path, "--format", "json"] + Self.recipe)
        try #require(explicit.status == 0, "\(explicit.standardError)")
        for model in [native, exported] {
            let result = try runResin(["run", model, "--images", folder.path, "--format", "json"])
            #expect(result.status == 0, "\(model): \(result.standardError)")
            let found = try records(result.standardOutput)
            let reference = try records(explicit.standardOutput)
            #expect(found.count == 2)
            for (record, plain) in zip(found, reference) {
                let top = try #require(record["top"] as? [[String: Any]])
                let plainTop = try #require(plain["top"] as? [[String: Any]])
                #expect(top.compactMap { $0["class"] as? Int } == plainTop.compactMap { $0["class"] as? Int })
                for entry in top {
                    #expect(entry["label"] as? String == "class \(entry["class"] as! Int), \"quoted\"")
                }
            }
        }
        let script = """
            import json, sys, onnx
            m = onnx.load(sys.argv[1])
            print(json.dumps({p.key: p.value for p in m.metadata_props}))
            """
        let read = try runProgram(TestPaths.python, ["-c", script, exported])
        try #require(read.status == 0, "\(read.standardError)")
        let properties = try #require(JSONSerialization.jsonObject(with: Data(read.standardOutput.utf8)) as? [String: String])
        #expect(properties["resin.labels"]?.split(separator: "\n").count == 10)
        let stored = try #require(properties["resin.preprocess"])
        let recipe = try #require(try JSONSerialization.jsonObject(with: Data(stored.utf8)) as? [String: Any])
        #expect(!recipe.isEmpty, "\(properties)")
    }
    /// A classifier whose graph ends in Softmax reports its output as the scores (not a softmax of it), an
    /// [N, C, 1, 1] output counts as [N, C], and any other output shape is refused naming the output.
    @Test func classifierOutputsOfOtherForms() throws {
        let folder = try TemporaryFolder()
        let expected = try makeImages(2, in: folder)
        let script = """
            import sys, onnx
            from onnx import helper, TensorProto
            source, folder = sys.argv[1], sys.argv[2]
            def variant(name, nodes, shape):
                m = onnx.load(source)
                g = m.graph
                g.output[0].name = "logits_raw"
                for node in g.node:
                    node.output[:] = ["logits_raw" if o == "logits" else o for o in node.output]
                g.node.extend(nodes)
                del g.output[:]
                g.output.append(helper.make_tensor_value_info("scores", TensorProto.FLOAT, shape))
                onnx.save(m, f"{folder}/{name}.onnx")
            g_axes = lambda *axes: helper.make_node("Constant", [], ["axes"], value=helper.make_tensor("axes_value", TensorProto.INT64, [len(axes)], list(axes)))
            variant("softmax", [helper.make_node("Softmax", ["logits_raw"], ["scores"], axis=1)], ["N", 10])
            variant("four", [g_axes(2, 3), helper.make_node("Unsqueeze", ["logits_raw", "axes"], ["scores"])], ["N", 10, 1, 1])
            variant("three", [g_axes(1), helper.make_node("Unsqueeze", ["logits_raw", "axes"], ["scores"])], ["N", 1, 10])
            """
        let made = try runProgram(TestPaths.python, ["-c", script, Self.model, folder.path])
        try #require(made.status == 0, "\(made.standardError)")
        let images = [folder.file("img-0.png"), folder.file("img-1.png")]
        for name in ["softmax", "four"] {
            let result = try runResin(["run", folder.file("\(name).onnx"), "--image"] + images + Self.recipe + ["--format", "json"])
            #expect(result.status == 0, "\(name): \(result.standardError)")
            for (record, scores) in zip(try records(result.standardOutput), expected) {
                let top = try #require(record["top"] as? [[String: Any]])
                #expect(top.count == 5)
                for entry in top {
                    let index = try #require(entry["class"] as? Int)
                    let score = try #require(entry["score"] as? Double)
                    #expect(abs(score - scores[index]) <= 1e-4, "\(name), class \(index): \(score) vs \(scores[index])")
                }
            }
        }
        let refused = try runResin(["run", folder.file("three.onnx"), "--image"] + images + Self.recipe)
        #expect(refused.status == 2)
        #expect(refused.standardError.contains("'scores'") && refused.standardError.contains("[8, 1, 10]"), "\(refused.standardError)")
    }
}
