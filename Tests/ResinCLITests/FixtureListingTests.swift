import Foundation
import Testing
import TestSupport

/// The fixture list that parameterized tests draw their cases from: a folder that cannot be read, or
/// that holds no fixture, is an error, never an empty list of cases.
@Suite struct FixtureListingTests {
    @Test func theRepositoryFixturesAreListed() throws {
        let names = try TestPaths.fixtureNames(in: TestPaths.fixtures)
        #expect(names.contains("resnet-bottleneck-v1.5") && names.contains("resnext"))
        #expect(names == TestPaths.fixtureNames)
    }

    @Test func aMissingFolderIsAnErrorNamingIt() {
        #expect { try TestPaths.fixtureNames(in: "/nonexistent/Fixtures") } throws: { error in
            "\(error)".contains("cannot list the fixture folder /nonexistent/Fixtures")
        }
    }

    @Test func aFolderWithoutModelsIsAnError() throws {
        let folder = try TemporaryFolder()
        try FileManager.default.createDirectory(atPath: folder.file("empty-case"), withIntermediateDirectories: true)
        #expect { try TestPaths.fixtureNames(in: folder.path) } throws: { error in
            "\(error)".contains("holds no folder with a model.onnx")
        }
    }
}
