import Foundation
import Testing
import TestSupport
@testable import ResinCLI

/// `--shard I/N` and `--shard auto`: the slices of the sorted input list and the job engines' variables.
@Suite struct ImageShardTests {
    /// Every item of a list lands in exactly one of the N slices, in order, and slices differ in size by at
    /// most one, including lists shorter than N (some slices empty).
    @Test(arguments: [0, 1, 2, 3, 7, 10, 97], [1, 2, 3, 4, 8, 16])
    func slicesCoverTheListOnce(count: Int, shards: Int) {
        var covered: [Int] = []
        var sizes: [Int] = []
        for index in 0..<shards {
            let range = Shard(index: index, count: shards).range(of: count)
            covered += Array(range)
            sizes.append(range.count)
        }
        #expect(covered == Array(0..<count), "slices of \(count) items in \(shards) shards: \(covered)")
        #expect((sizes.max() ?? 0) - (sizes.min() ?? 0) <= 1, "sizes \(sizes)")
    }

    @Test func moreShardsThanItemsLeavesEmptySlices() {
        let ranges = (0..<5).map { Shard(index: $0, count: 5).range(of: 2) }
        #expect(ranges.filter(\.isEmpty).count == 3)
        #expect(ranges.flatMap { Array($0) } == [0, 1])
    }

    @Test func parsesIndexOverCount() throws {
        #expect(try Shard(parsing: "2/4") == Shard(index: 2, count: 4))
        #expect(try Shard(parsing: "0/1") == Shard.whole)
        for bad in ["4/4", "-1/4", "1/0", "1", "a/b", "1/2/3", ""] {
            #expect(throws: ShardError.self, "--shard \(bad)") { try Shard(parsing: bad) }
        }
    }

    /// `{shard}` in an output path: zero-padded to the width of N - 1, so that part files sort by index.
    @Test func paddedIndexSortsAsText() {
        #expect(Shard(index: 3, count: 4).paddedIndex == "3")
        #expect(Shard(index: 7, count: 11).paddedIndex == "07")
        #expect(Shard(index: 10, count: 11).paddedIndex == "10")
        #expect(Shard(index: 5, count: 1000).paddedIndex == "005")
        #expect(ResultFile.expand("out/part-{shard}.jsonl", shard: Shard(index: 2, count: 16)) == "out/part-02.jsonl")
    }

    @Test func autoReadsAKubernetesIndexedJob() throws {
        let shard = try Shard.automatic(environment: ["JOB_COMPLETION_INDEX": "3", "JOB_COMPLETIONS": "8"])
        #expect(shard == Shard(index: 3, count: 8))
    }

    @Test func autoReadsASlurmArrayFromItsMinimum() throws {
        #expect(try Shard.automatic(environment: ["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4"]) == Shard(index: 2, count: 4))
        // --array=1-4: task IDs 1..4 become shards 0..3.
        let environment = ["SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "1"]
        #expect(try Shard.automatic(environment: environment) == Shard(index: 3, count: 4))
    }

    @Test func kubernetesWinsOverSlurm() throws {
        let environment = ["JOB_COMPLETION_INDEX": "1", "JOB_COMPLETIONS": "2", "SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "9"]
        #expect(try Shard.automatic(environment: environment) == Shard(index: 1, count: 2))
    }

    /// Missing or inconsistent variables: an error that names the variables involved.
    @Test(arguments: [
        ([:], ["JOB_COMPLETION_INDEX", "JOB_COMPLETIONS", "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT"]),
        (["JOB_COMPLETION_INDEX": "1"], ["JOB_COMPLETIONS"]),
        (["JOB_COMPLETION_INDEX": "4", "JOB_COMPLETIONS": "4"], ["JOB_COMPLETION_INDEX=4", "JOB_COMPLETIONS=4"]),
        (["JOB_COMPLETION_INDEX": "x", "JOB_COMPLETIONS": "4"], ["JOB_COMPLETION_INDEX='x'"]),
        (["SLURM_ARRAY_TASK_COUNT": "4"], ["SLURM_ARRAY_TASK_ID"]),
        (["SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "1"], ["SLURM_ARRAY_TASK_MIN=1", "SLURM_ARRAY_TASK_COUNT=4"]),
    ] as [([String: String], [String])])
    func autoRefusesMissingOrInconsistentVariables(environment: [String: String], named: [String]) {
        #expect {
            try Shard.automatic(environment: environment)
        } throws: { error in
            let text = String(describing: error)
            return named.allSatisfy { text.contains($0) }
        }
    }

    /// The input list: --image as given, --images sorted by bytes, list files skip blanks and comments,
    /// folders give their image files only (any case of extension), not subfolders'.
    @Test func inputListsAreSortedAndFiltered() throws {
        let folder = try TemporaryFolder()
        for name in ["b.JPG", "a.png", "C.jpeg", "notes.txt", "é.jpg", "z.jpg.bak"] {
            try "x".write(toFile: folder.file(name), atomically: true, encoding: .utf8)
        }
        try FileManager.default.createDirectory(atPath: folder.file("sub.png"), withIntermediateDirectories: false)
        try "x".write(toFile: folder.file("sub.png/inner.png"), atomically: true, encoding: .utf8)
        let listed = try ImageList.paths(images: [], sources: [folder.path])
        #expect(listed == ["C.jpeg", "a.png", "b.JPG", "é.jpg"].map { folder.path + "/" + $0 })

        let list = folder.file("list.txt")
        try "# a comment\nz/2.jpg\n\n  \nb/1.png\r\na/3.jpg\n".write(toFile: list, atomically: true, encoding: .utf8)
        #expect(try ImageList.paths(images: [], sources: [list]) == ["a/3.jpg", "b/1.png", "z/2.jpg"])
        #expect(try ImageList.paths(images: ["q.jpg", "p.jpg"], sources: []) == ["q.jpg", "p.jpg"])
        #expect(throws: (any Error).self) { try ImageList.paths(images: [], sources: [folder.file("missing")]) }
    }
}
