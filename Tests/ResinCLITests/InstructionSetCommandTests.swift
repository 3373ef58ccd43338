import Foundation
import Resin
import ResinIR
import ResinRuntime
import Testing
import TestSupport

/// RESIN_ISA on the command line: every value the processor runs is honoured, what `convert` writes is the
/// same bytes under each, and a value the table cannot honour stops every command with exit code 2.
@Suite struct InstructionSetCommandTests {
    /// Fixtures whose convolutions reach the packed and Winograd choices (stages of 32 channels and more).
    static let models = ["resnet-bottleneck-v1.5", "resnet-basic-v1.5", "resnext", "wide-resnet"]

    @Test(arguments: models)
    func convertWritesTheSameBytesUnderEveryInstructionSet(_ fixture: String) throws {
        let folder = try TemporaryFolder()
        try #require(InstructionSet.supported.count >= 1)
        var files: [(InstructionSet, Data)] = []
        for instructionSet in InstructionSet.supported {
            let output = folder.file("\(instructionSet).resin")
            let result = try runResin(["convert", TestPaths.model(fixture), output], environment: ["RESIN_ISA": "\(instructionSet)"])
            try #require(result.status == 0, "RESIN_ISA=\(instructionSet): \(result.standardError)")
            files.append((instructionSet, try Data(contentsOf: URL(fileURLWithPath: output))))
        }
        // The fp16 and compressed forms hold the same prepared filters: one of them is enough to check too.
        let compressed = folder.file("portable-compressed.resin")
        let result = try runResin(["convert", "--compress", TestPaths.model(fixture), compressed], environment: ["RESIN_ISA": "portable"])
        try #require(result.status == 0, "\(result.standardError)")
        let (first, bytes) = files[0]
        #expect(!bytes.isEmpty)
        for (instructionSet, other) in files.dropFirst() {
            #expect(other == bytes, "\(fixture): the file converted under \(instructionSet) differs from the one under \(first)")
        }
    }

    /// A file converted under one set runs under every other and matches the fixture's ONNX Runtime outputs.
    @Test func aFileConvertedUnderOneSetVerifiesUnderEvery() throws {
        let folder = try TemporaryFolder()
        let fixture = "resnet-bottleneck-v1.5"
        let native = folder.file("model.resin")
        let lowest = try #require(InstructionSet.supported.first)
        let convert = try runResin(["convert", TestPaths.model(fixture), native], environment: ["RESIN_ISA": "\(lowest)"])
        try #require(convert.status == 0, "\(convert.standardError)")
        let data = "\(TestPaths.fixtures)/\(fixture)/test_data_set_0"
        for instructionSet in InstructionSet.supported {
            let result = try runResin(["verify", native, "--input", "\(data)/input_0.pb", "--expected", "\(data)/output_0.pb",
                                       "--rtol", "1e-4", "--atol", "1e-4"], environment: ["RESIN_ISA": "\(instructionSet)"])
            #expect(result.status == 0, "RESIN_ISA=\(instructionSet): \(result.standardOutput) \(result.standardError)")
        }
    }

    /// `bench --json` reports the set each value selects, and the processor's name.
    @Test func benchReportsTheInstructionSetInUse() throws {
        for instructionSet in InstructionSet.supported {
            let result = try runResin(["bench", "--json", "--warmup", "0", "--iterations", "1", TestPaths.model("resnet-basic-v1.5")],
                                      environment: ["RESIN_ISA": "\(instructionSet)"])
            try #require(result.status == 0, "\(result.standardError)")
            let object = try #require(JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
            #expect(object["isa"] as? String == "\(instructionSet)")
            #expect(object["cpu"] as? String == InstructionSet.processorName)
        }
    }

    /// An unknown value stops every command with exit code 2 and one line naming the value and the sets.
    @Test(arguments: [["inspect", "MODEL"], ["convert", "MODEL", "OUT"], ["bench", "MODEL"], ["verify", "FIXTURE"], ["run", "MODEL"]])
    func anUnknownValueExitsWithTwo(_ command: [String]) throws {
        let folder = try TemporaryFolder()
        let arguments = command.map { argument in
            switch argument {
            case "MODEL": TestPaths.model("resnet-basic-v1.5")
            case "FIXTURE": "\(TestPaths.fixtures)/resnet-basic-v1.5"
            case "OUT": folder.file("out.resin")
            default: argument
            }
        }
        let result = try runResin(arguments, environment: ["RESIN_ISA": "bogus"])
        #expect(result.status == 2, "\(command[0]): \(result.standardError)")
        #expect(!result.crashed)
        let lines = result.standardError.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.hasPrefix("error: RESIN_ISA=bogus: ") == true, "\(result.standardError)")
        #expect(result.standardError.contains("supports portable"))
        #expect(!FileManager.default.fileExists(atPath: folder.file("out.resin")))
    }

    /// A set the processor lacks is refused the same way; a processor with every set has none to try and
    /// skips this (InstructionSetTests checks the rule with other processors' sets).
    @Test(.enabled(if: InstructionSet.supported.count < InstructionSet.allCases.count))
    func aSetAboveTheProcessorExitsWithTwo() throws {
        let missing = InstructionSet.allCases.filter { !InstructionSet.supported.contains($0) }
        for instructionSet in missing {
            let result = try runResin(["inspect", TestPaths.model("resnet-basic-v1.5")], environment: ["RESIN_ISA": "\(instructionSet)"])
            #expect(result.status == 2)
            #expect(result.standardError.hasPrefix("error: RESIN_ISA=\(instructionSet): this processor ("), "\(result.standardError)")
        }
    }
}
