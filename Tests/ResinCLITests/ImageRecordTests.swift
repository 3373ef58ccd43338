import Foundation
import Testing
import TestSupport
@testable import ResinCLI

/// Scores and records of `resin run --image`: softmax and top-K against plain references, and the JSON
/// Lines, CSV and text forms, escaping included.
@Suite struct ImageRecordTests {
    /// Softmax against the textbook formula in double precision, on logits where subtracting the largest
    /// matters (large values would overflow exp in single precision).
    @Test(arguments: [[1, 2, 3, 4] as [Float], [0, 0, 0], [80, 85, 90, -3], [-1000, 0, 1000], [2.5]])
    func softmaxMatchesTheFormula(logits: [Float]) {
        let scores = logits.withUnsafeBufferPointer { Classification.softmax($0) }
        let largest = Double(logits.max()!)
        let exponentials = logits.map { Foundation.exp(Double($0) - largest) }
        let total = exponentials.reduce(0, +)
        for (index, exponential) in exponentials.enumerated() {
            #expect(abs(Double(scores[index]) - exponential / total) <= 1e-7, "class \(index): \(scores[index])")
        }
        #expect(abs(Double(scores.reduce(0, +)) - 1) < 1e-6)
    }

    /// Top-K against a full sort of (score descending, index ascending) on seeded random scores with many
    /// ties, for several K.
    @Test(arguments: [1, 3, 5, 10, 40])
    func topKMatchesAFullSort(k: Int) {
        var random = SplitMix64(seed: k)
        for _ in 0..<50 {
            // Few distinct values, so ties are common.
            let scores = (0..<30).map { _ in Float(random.next() % 7) / 7 }
            let expected = Array(scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }.prefix(k))
            #expect(Classification.top(k, of: scores) == expected, "scores \(scores)")
        }
    }

    @Test func tiesGoToTheLowerClassAndNaNRanksLast() {
        #expect(Classification.top(3, of: [0.2, .nan, 0.5, 0.5, 0.2]) == [2, 3, 0])
        #expect(Classification.top(5, of: [.nan, 1]) == [1, 0])
    }

    /// JSON Lines: exactly the documented keys and layout, strings escaped so any JSON reader gets the
    /// path and label back.
    @Test func jsonLinesEscapeAndReadBack() throws {
        let path = "dir/a \"quoted\", back\\slash\ttab\nnew line é.jpg"
        let record = ImageRecord(image: path, top: [
            .init(classIndex: 281, label: "tabby, \"cat\"", score: 0.91),
            .init(classIndex: 3, label: nil, score: 1e-05),
        ])
        let line = RecordFormat.json.render(record)
        #expect(line.hasSuffix("}\n"))
        #expect(line.filter { $0 == "\n" }.count == 1, "one line per record")
        #expect(line.hasPrefix("{\"image\": "))
        #expect(line.contains(", \"top\": [{\"class\": 281, \"label\": \"tabby, \\\"cat\\\"\", \"score\": 0.91}, {\"class\": 3, \"label\": null, \"score\": 1e-05}]}"))
        let object = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["image"] as? String == path)
        let top = try #require(object["top"] as? [[String: Any]])
        #expect(top.first?["label"] as? String == "tabby, \"cat\"")
        #expect(top.last?["label"] is NSNull)

        let failure = RecordFormat.json.render(ImageRecord(image: "x.jpg", error: "not a \"JPEG\""))
        #expect(failure == "{\"image\": \"x.jpg\", \"error\": \"not a \\\"JPEG\\\"\"}\n")
    }

    /// CSV: one row per rank under the documented header, fields quoted as RFC 4180 says (quotes doubled,
    /// commas and newlines inside quotes), an error row with empty rank, class, label and score.
    @Test func csvQuotesAsRFC4180() {
        let record = ImageRecord(image: "a,b.jpg", top: [
            .init(classIndex: 7, label: "say \"hi\"", score: 0.5),
            .init(classIndex: 2, label: "plain", score: 0.25),
        ])
        #expect(RecordFormat.csv.header == "image,rank,class,label,score,error\n")
        #expect(RecordFormat.csv.render(record) == "\"a,b.jpg\",1,7,\"say \"\"hi\"\"\",0.5,\n\"a,b.jpg\",2,2,plain,0.25,\n")
        #expect(RecordFormat.csv.render(ImageRecord(image: "c.png", error: "line one\nline two"))
                == "c.png,,,,,\"line one\nline two\"\n")
        #expect(RecordFormat.csvField("unlabelled") == "unlabelled")
        #expect(RecordFormat.csvField(" padded") == "\" padded\"")
    }

    @Test func textNamesTheImageClassesAndScores() {
        let record = ImageRecord(image: "cat.jpg", top: [.init(classIndex: 281, label: "tabby", score: 0.75), .init(classIndex: 9, label: nil, score: 0.125)])
        #expect(RecordFormat.text.render(record) == "cat.jpg: tabby (281) 0.75, (9) 0.125\n")
        #expect(RecordFormat.text.render(ImageRecord(image: "bad.png", error: "truncated")) == "bad.png: error: truncated\n")
    }

    /// A score is the shortest text that reads back as the same Float, so that shards written on any machine
    /// merge byte for byte.
    @Test func scoresReadBackExactly() {
        var random = SplitMix64(seed: 9)
        for _ in 0..<1000 {
            let value = Float(random.next() % 1_000_000) / 999_983
            #expect(Float(RecordFormat.score(value)) == value)
        }
    }
}
