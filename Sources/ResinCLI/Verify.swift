import ArgumentParser
import Resin
import ResinIR

/// `resin verify`: outputs against expected tensors, element by element.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a model's outputs against expected tensors.",
        discussion: """
            Either a model with --input and --expected files, or an ONNX test-case folder holding model.onnx \
            and test_data_set_*/input_*.pb, output_*.pb. An element passes when \
            |actual - expected| <= atol + rtol * |expected|; NaN matches only NaN. Exit code 1 on a mismatch.
            """)

    @Argument(help: "A model file, or a test-case folder.")
    var target: String

    @Option(name: .customLong("input"), help: ArgumentHelp("An input tensor.", valueName: "[NAME=]FILE"))
    var inputs: [String] = []

    @Option(name: .customLong("expected"), help: ArgumentHelp("An expected output tensor.", valueName: "[NAME=]FILE"))
    var expected: [String] = []

    @Option(help: "Relative tolerance.")
    var rtol: Double = 1e-3

    @Option(help: "Absolute tolerance.")
    var atol: Double = 1e-5

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        try runtime.validate()
        guard rtol >= 0, atol >= 0 else { throw ValidationError("--rtol and --atol must not be negative") }
    }

    func run() throws {
        if pathKind(target) == .directory {
            guard inputs.isEmpty, expected.isEmpty else {
                throw ValidationError("a test-case folder brings its own inputs and outputs; drop --input and --expected")
            }
            try verifyCase(folder: target)
        } else {
            guard !inputs.isEmpty, !expected.isEmpty else {
                throw ValidationError("give --input and --expected files, or a test-case folder")
            }
            let passed = try reportingErrors(about: target) { () throws -> Bool in
                let loaded = try runtime.load(target)
                let (feeds, files) = try readTensorFiles(inputs, names: loaded.model.graph.runtimeInputs.map(\.name), role: "input")
                try InputPolicy.checkDeclared(feeds, files: files, model: loaded.model, modelPath: target)
                let expectations = try readTensors(expected, names: loaded.model.graph.outputs.map(\.name), role: "output")
                return try check(loaded, feeds: feeds, files: files, expectations: expectations, label: nil)
            }
            if !passed { throw ExitCode(1) }
        }
    }

    /// The ONNX test-case layout: model.onnx plus test_data_set_*/input_*.pb and output_*.pb.
    func verifyCase(folder: String) throws {
        let modelPath = ["model.onnx", "model.resin"].map { folder + "/" + $0 }.first { pathKind($0) != .missing }
            ?? folder + "/model.onnx"
        let passed = try reportingErrors(about: folder) { () throws -> Bool in
            let loaded = try runtime.load(modelPath)
            let sets = try directoryEntries(atPath: folder)
                .filter { $0.hasPrefix("test_data_set_") }.sorted(by: numericOrder)
            guard !sets.isEmpty else { throw BindingError("\(folder): no test_data_set_* folder") }
            var allPassed = true
            for set in sets {
                let directory = folder + "/" + set
                let files = try directoryEntries(atPath: directory).sorted(by: numericOrder)
                let inputFiles = files.filter { $0.hasPrefix("input_") && $0.hasSuffix(".pb") }.map { directory + "/" + $0 }
                let outputFiles = files.filter { $0.hasPrefix("output_") && $0.hasSuffix(".pb") }.map { directory + "/" + $0 }
                let (feeds, sources) = try readTensorFiles(inputFiles, names: loaded.model.graph.runtimeInputs.map(\.name), role: "input")
                try InputPolicy.checkDeclared(feeds, files: sources, model: loaded.model, modelPath: modelPath)
                let expectations = try readTensors(outputFiles, names: loaded.model.graph.outputs.map(\.name), role: "output")
                let passed = try check(loaded, feeds: feeds, files: sources, expectations: expectations, label: sets.count > 1 ? set : nil)
                allPassed = allPassed && passed
            }
            return allPassed
        }
        if !passed { throw ExitCode(1) }
    }

    /// Runs once and prints one line per expected output; true when all pass.
    func check(_ loaded: LoadedModel, feeds: [String: Tensor], files: [String: String], expectations: [String: Tensor], label: String?) throws -> Bool {
        let session = try makeSession(loaded, feeds: feeds, runtime: runtime)
        let results = try session.run(try InputPolicy.conformed(feeds, to: session.inputs, files: files))
        var allPassed = true
        for output in session.outputs {
            guard let expected = expectations[output.name], let actual = results[output.name] else { continue }
            let comparison = TensorComparison(actual: actual, expected: expected, rtol: rtol, atol: atol)
            allPassed = allPassed && comparison.passed
            let prefix = label.map { "\($0) " } ?? ""
            if !comparison.shapeMatches {
                print("\(prefix)\(output.name): shape \(describe(comparison.actualShape)) but expected \(describe(comparison.expectedShape))  FAIL")
                continue
            }
            let worst = "[" + comparison.worstIndex.map(String.init).joined(separator: ", ") + "]"
            print("\(prefix)\(output.name): shape \(describe(actual.shape))  max abs err \(scientific(comparison.maxAbsoluteError))"
                  + "  max rel err \(scientific(comparison.maxRelativeError))  worst at \(worst)"
                  + "  \(comparison.passed ? "PASS" : "FAIL (\(comparison.failures) elements outside rtol \(rtol), atol \(atol))")")
        }
        return allPassed
    }
}

/// A number in short scientific notation: 1.23e-05.
func scientific(_ value: Double) -> String {
    if value == 0 { return "0" }
    if !value.isFinite { return "\(value)" }
    return formatted(value, "%.3g")
}
