import Testing
@testable import ResinIR

/// Output sizes and pads of sliding windows, against values worked out by hand from the ONNX formulas.
@Suite struct WindowTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var input: Int, kernel: Int, stride: Int, dilation: Int, pads: (Int, Int), autoPad: AutoPad, ceil: Bool
        var output: Int, begin: Int, end: Int
        var testDescription: String { "in \(input) k \(kernel) s \(stride) d \(dilation) pads \(pads) \(autoPad.rawValue) ceil \(ceil)" }
    }

    static let cases: [Case] = [
        // ResNet stem: 224, 7x7 stride 2 pad 3 -> 112; max pool 3x3 s2 p1 -> 56.
        Case(input: 224, kernel: 7, stride: 2, dilation: 1, pads: (3, 3), autoPad: .notSet, ceil: false, output: 112, begin: 3, end: 3),
        Case(input: 112, kernel: 3, stride: 2, dilation: 1, pads: (1, 1), autoPad: .notSet, ceil: false, output: 56, begin: 1, end: 1),
        // floor((5 + 0 - 3) / 2) + 1 = 2; with ceil: ceil(2 / 2) + 1 = 2.
        Case(input: 5, kernel: 3, stride: 2, dilation: 1, pads: (0, 0), autoPad: .notSet, ceil: true, output: 2, begin: 0, end: 0),
        // floor((6 - 3) / 2) + 1 = 2; ceil: ceil(3 / 2) + 1 = 3, and the last window starts at 4 < 6, kept.
        Case(input: 6, kernel: 3, stride: 2, dilation: 1, pads: (0, 0), autoPad: .notSet, ceil: true, output: 3, begin: 0, end: 0),
        // ceil: ceil((4 + 1 + 1 - 2) / 2) + 1 = 3; the third window starts at 4 < 4 + 1, so it is kept.
        Case(input: 4, kernel: 2, stride: 2, dilation: 1, pads: (1, 1), autoPad: .notSet, ceil: true, output: 3, begin: 1, end: 1),
        // ceil drops a window starting in the end padding: in 3, k 1, s 2, pads (0, 1): ceil(3 / 2) + 1 = 3,
        // third window starts at 4 >= 3 + 0, so 2.
        Case(input: 3, kernel: 1, stride: 2, dilation: 1, pads: (0, 1), autoPad: .notSet, ceil: true, output: 2, begin: 0, end: 1),
        // Dilation 2 widens a 3-tap kernel to 5: floor((10 - 5) / 1) + 1 = 6.
        Case(input: 10, kernel: 3, stride: 1, dilation: 2, pads: (0, 0), autoPad: .notSet, ceil: false, output: 6, begin: 0, end: 0),
        // SAME: ceil(7 / 2) = 4, total pad (4 - 1) * 2 + 3 - 7 = 2, split evenly.
        Case(input: 7, kernel: 3, stride: 2, dilation: 1, pads: (0, 0), autoPad: .sameUpper, ceil: false, output: 4, begin: 1, end: 1),
        // SAME with odd total pad: in 8, k 4, s 1 -> out 8, total 3: upper puts 2 at the end, lower at the start.
        Case(input: 8, kernel: 4, stride: 1, dilation: 1, pads: (0, 0), autoPad: .sameUpper, ceil: false, output: 8, begin: 1, end: 2),
        Case(input: 8, kernel: 4, stride: 1, dilation: 1, pads: (0, 0), autoPad: .sameLower, ceil: false, output: 8, begin: 2, end: 1),
        // VALID: floor((9 - 3) / 3) + 1 = 3.
        Case(input: 9, kernel: 3, stride: 3, dilation: 1, pads: (0, 0), autoPad: .valid, ceil: false, output: 3, begin: 0, end: 0),
    ]

    @Test(arguments: cases)
    func resolvesOutputSizeAndPads(_ test: Case) throws {
        let window = WindowAttributes(
            strides: [test.stride], dilations: [test.dilation], pads: [test.pads.0, test.pads.1],
            autoPad: test.autoPad, ceilMode: test.ceil)
        let resolved = try window.resolve(spatial: [test.input], kernel: [test.kernel])
        #expect(resolved.outputSizes == [test.output])
        #expect(resolved.padsBegin == [test.begin])
        #expect(resolved.padsEnd == [test.end])
    }

    @Test func rejectsWindowLargerThanInput() {
        let window = WindowAttributes(pads: [0, 0])
        #expect(throws: ShapeProblem.self) { try window.resolve(spatial: [2], kernel: [3]) }
    }

    @Test func rejectsPadsOfWrongLength() {
        let window = WindowAttributes(pads: [1, 1])
        #expect(throws: ShapeProblem.self) { try window.resolve(spatial: [8, 8], kernel: [3, 3]) }
    }
}
