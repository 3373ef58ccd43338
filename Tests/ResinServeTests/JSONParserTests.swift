import Testing
@testable import ResinServe

/// The JSON reader behind every request body.
@Suite struct JSONParserTests {
    /// Objects, arrays, escapes (surrogate pairs included), literals and numbers come back as written.
    @Test func readsEveryKindOfValue() throws {
        let text = #"{"s": "a\"b\\c\n\u00e9\ud83d\ude00", "t": true, "f": false, "n": null, "i": -12, "d": 2.5e-3, "a": [1, "x"], "e": [], "o": {}}"#
        let value = try JSONParser.parse(Array(text.utf8))
        #expect(value["s"] == .string("a\"b\\c\né😀"))
        #expect(value["t"] == .bool(true))
        #expect(value["f"] == .bool(false))
        #expect(value["n"] == .null)
        #expect(value["i"] == .integer(-12))
        #expect(value["d"] == .double(0.0025))
        #expect(value["a"] == .array([.double(1), .string("x")]))
        #expect(value["e"] == .array([]))
        #expect(value["o"] == .object([:]))
    }

    /// An array of numbers is kept as doubles, except integers a double cannot hold exactly.
    @Test func keepsNumberArraysCompactAndIntegersExact() throws {
        guard case .numbers(let withNaN) = try JSONParser.parse(Array("[NaN, 0]".utf8)) else {
            Issue.record("NaN did not parse as a number")
            return
        }
        #expect(withNaN[0].isNaN && withNaN[1] == 0)
        let parsed = try JSONParser.parse(Array("[1, -2.5, 3e2, -Infinity]".utf8))
        #expect(parsed == .numbers([1, -2.5, 300, -.infinity]))
        let big = try JSONParser.parse(Array("[9007199254740993, 1]".utf8))
        #expect(big == .array([.integer(9_007_199_254_740_993), .integer(1)]))
    }

    /// Every malformed body is refused with the byte offset where reading stopped.
    @Test(arguments: [
        (#"{"a": }"#, 6), (#"[1, ]"#, 4), (#"{"a" 1}"#, 5), (#""abc"#, 4), (#"{"a": 1} x"#, 9),
        (#"{"a": 1, "a": 2}"#, 9), ("\"a\u{01}\"", 2), (#""\q""#, 2), ("[-]", 2), ("[1.]", 3), ("", 0), ("tru", 3),
        (#""\ud800x""#, 7),
    ])
    func refusesMalformedText(text: String, offset: Int) {
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(Array(text.utf8)) }
        do {
            _ = try JSONParser.parse(Array(text.utf8))
        } catch {
            #expect(error.offset == offset, "\(text): \(error)")
        }
    }

    /// Brackets nested past the bound are refused rather than recursed into.
    @Test func boundsNesting() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(Array(deep.utf8)) }
        let fine = String(repeating: "[", count: 10) + String(repeating: "]", count: 10)
        #expect(throws: Never.self) { try JSONParser.parse(Array(fine.utf8)) }
    }
}
