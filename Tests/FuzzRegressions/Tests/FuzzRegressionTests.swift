import Foundation
import ResinFuzzTargets
import Testing
import TestSupport

/// Replays every file under `Tests/FuzzRegressions/<target>/` (inputs that once crashed a reader, and small
/// hand-made ones) through the fuzz entry point, here without sanitizers: a reader that crashes again kills
/// this test, and a refusal must name the input file on one line, as the command-line tool prints it.
@Suite struct FuzzRegressionTests {
    static let folder = TestPaths.root + "/Tests/FuzzRegressions"

    @Test(arguments: FuzzTarget.allCases)
    func replayedInputsAreRefusedOrAcceptedWithoutCrashing(_ target: FuzzTarget) throws {
        let directory = Self.folder + "/" + target.rawValue
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { !$0.hasPrefix(".") }.sorted()
        try #require(!names.isEmpty, "no regression inputs in \(directory)")
        for name in names {
            let bytes = try #require(FileManager.default.contents(atPath: directory + "/" + name), "cannot read \(name)")
            let outcome = bytes.withUnsafeBytes { target.run($0) }
            if let outcome {
                #expect(outcome.contains(target.fileName), "\(name): the error does not name the file: \(outcome)")
                #expect(!outcome.contains("\n"), "\(name): the error is not one line: \(outcome)")
            }
        }
    }
}
