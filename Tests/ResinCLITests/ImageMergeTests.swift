import Foundation
import Testing
import TestSupport

/// `resin merge-results`: shards' JSON Lines or CSV joined into one run's records, and its refusals.
@Suite struct ImageMergeTests {
    private func write(_ text: String, _ name: String, in folder: TemporaryFolder) throws -> String {
        let path = folder.file(name)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Records sorted by image path bytes whatever the shards' order, equal paths in the files' order,
    /// lines unchanged; an empty shard contributes nothing.
    @Test func jsonLinesMergeInPathOrder() throws {
        let folder = try TemporaryFolder()
        let first = try write("""
            {"image": "b.jpg", "top": [{"class": 1, "label": null, "score": 0.5}]}
            {"image": "d.jpg", "error": "x"}

            """, "part-1.jsonl", in: folder)
        let second = try write("""
            {"image": "a.jpg", "top": []}
            {"image": "b.jpg", "top": [{"class": 2, "label": "two", "score": 0.25}]}
            {"image": "C.jpg", "top": []}

            """, "part-0.jsonl", in: folder)
        let empty = try write("", "part-2.jsonl", in: folder)
        let output = folder.file("merged.jsonl")
        let result = try runResin(["merge-results", first, empty, second, "--output", output])
        #expect(result.status == 0, "\(result.standardError)")
        let merged = try String(contentsOfFile: output, encoding: .utf8)
        #expect(merged == """
            {"image": "C.jpg", "top": []}
            {"image": "a.jpg", "top": []}
            {"image": "b.jpg", "top": [{"class": 1, "label": null, "score": 0.5}]}
            {"image": "b.jpg", "top": [{"class": 2, "label": "two", "score": 0.25}]}
            {"image": "d.jpg", "error": "x"}

            """)
    }

    /// CSV: one header, an image's rows kept together, quoted fields (with commas and newlines) intact.
    @Test func csvMergesRowsPerImageUnderOneHeader() throws {
        let folder = try TemporaryFolder()
        let header = "image,rank,class,label,score,error\n"
        let first = try write(header + "z.png,1,4,\"a, b\",0.75,\nz.png,2,1,c,0.25,\n", "p0.csv", in: folder)
        let second = try write(header + "\"m,n.png\",,,,,\"bad\nfile\"\nb.png,1,0,,1.0,\nb.png,2,3,,0.0,\n", "p1.csv", in: folder)
        let result = try runResin(["merge-results", first, second])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput == header + "b.png,1,0,,1.0,\nb.png,2,3,,0.0,\n\"m,n.png\",,,,,\"bad\nfile\"\nz.png,1,4,\"a, b\",0.75,\nz.png,2,1,c,0.25,\n")
    }

    /// Bad inputs exit 2 with a message naming the file, and the line for a malformed record.
    @Test func refusesMalformedMixedAndMissingFiles() throws {
        let folder = try TemporaryFolder()
        let json = try write("{\"image\": \"a.jpg\", \"top\": []}\n", "a.jsonl", in: folder)
        let csv = try write("image,rank,class,label,score,error\na.jpg,1,0,,1.0,\n", "a.csv", in: folder)
        let brokenLine = try write("{\"image\": \"a.jpg\", \"top\": []}\n{\"image\": \"b.jpg\", \"top\": [}\n", "broken.jsonl", in: folder)
        let noImage = try write("{\"path\": \"a.jpg\"}\n", "noimage.jsonl", in: folder)
        let shortRow = try write("image,rank,class,label,score,error\na.jpg,1,0\n", "short.csv", in: folder)
        let text = try write("a.jpg: tabby (281) 0.9\n", "a.txt", in: folder)
        let cases: [([String], String)] = [
            ([json, csv], "a.csv"),
            ([brokenLine], "broken.jsonl:2"),
            ([noImage], "noimage.jsonl:1"),
            ([shortRow], "short.csv:2"),
            ([text], "a.txt"),
            ([folder.file("missing.jsonl")], "missing.jsonl"),
        ]
        for (arguments, named) in cases {
            let output = folder.file("out")
            let result = try runResin(["merge-results"] + arguments + ["--output", output])
            #expect(result.status == 2, "\(arguments): \(result.standardError)")
            #expect(!result.crashed)
            #expect(result.standardError.contains(named), "\(arguments): \(result.standardError)")
            #expect(!FileManager.default.fileExists(atPath: output), "no output after a refusal")
        }
    }
}
