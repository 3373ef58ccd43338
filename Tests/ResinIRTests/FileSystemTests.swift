import Foundation
import ResinIR
import Testing
import TestSupport

@Suite struct FileSystemTests {
    @Test func numericOrderComparesDigitRunsAsNumbers() {
        let names = ["input_10.pb", "input_2.pb", "input_1.pb", "output_0.pb", "input_0.pb", "input_"]
        #expect(names.sorted(by: numericOrder) == ["input_", "input_0.pb", "input_1.pb", "input_2.pb", "input_10.pb", "output_0.pb"])
        #expect(!numericOrder("input_2", "input_02") && !numericOrder("input_02", "input_2"), "leading zeros do not count")
        // The same order Foundation's numeric comparison gives, on the test-case names that matter.
        let sets = (0..<25).map { "test_data_set_\($0)" }.shuffled()
        #expect(sets.sorted(by: numericOrder) == sets.sorted { $0.compare($1, options: .numeric) == .orderedAscending })
        #expect(!numericOrder("a", "a"))
        #expect(numericOrder("a", "ab"))
        #expect(numericOrder("9", "10") && !numericOrder("10", "9"))
    }

    @Test func directoryEntriesAndPathKinds() throws {
        let folder = try TemporaryFolder()
        #expect(FileManager.default.createFile(atPath: folder.file("a.pb"), contents: Data([1, 2, 3])))
        try FileManager.default.createDirectory(atPath: folder.file("sub"), withIntermediateDirectories: false)
        #expect(try directoryEntries(atPath: folder.path).sorted() == ["a.pb", "sub"])
        #expect(pathKind(folder.path) == .directory)
        #expect(pathKind(folder.file("a.pb")) == .other)
        #expect(pathKind(folder.file("missing")) == .missing)
        #expect(throws: FileError.self) { try directoryEntries(atPath: folder.file("missing")) }
        #expect(throws: FileError.self) { try directoryEntries(atPath: folder.file("a.pb")) }
    }
}
