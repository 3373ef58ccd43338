import Foundation
import Testing
import TestSupport
@testable import ResinImage

/// Labels files and the `resin.labels` metadata value.
@Suite struct ClassLabelsTests {
    @Test func readsOneNamePerLine() throws {
        let folder = try TemporaryFolder()
        let path = folder.file("labels.txt")
        // CRLF line ends, a blank line between names (a class without a name keeps its index), blank lines at the end.
        #expect(FileManager.default.createFile(atPath: path, contents: Data("tench\r\ngoldfish\n\ngreat white shark\n\n\n".utf8)))
        #expect(try ClassLabels.read(file: path) == ["tench", "goldfish", "", "great white shark"])
    }

    @Test func metadataRoundTrip() {
        let labels = ["tench, Tinca tinca", "goldfish", "", "café"]
        let value = ClassLabels.metadataValue(labels)
        #expect(value == "tench, Tinca tinca\ngoldfish\n\ncafé")
        #expect(ClassLabels.parse(metadataValue: value) == labels)
    }

    @Test func emptyFileIsAnError() throws {
        let folder = try TemporaryFolder()
        let path = folder.file("labels.txt")
        #expect(FileManager.default.createFile(atPath: path, contents: Data("\n\n".utf8)))
        #expect { _ = try ClassLabels.read(file: path) } throws: { error in
            (error as? ImageError)?.description == "\(path): the labels file holds no names"
        }
    }

    @Test func binaryFileIsAnError() throws {
        let path = ImageFixtures.path("rgb8.png")
        #expect { _ = try ClassLabels.read(file: path) } throws: { error in
            (error as? ImageError)?.description == "\(path): the labels file is not UTF-8 text"
        }
    }
}
