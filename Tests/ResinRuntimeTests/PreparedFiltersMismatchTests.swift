import ResinIR
import Testing
import TestSupport
@testable import ResinRuntime

/// A native file's prepared filters (FusedConv's fifth input) fix how its convolution runs. A file whose
/// prepared filters do not fit their convolution (a hostile or damaged file: the layout named for another
/// stride or kernel, too few filters for a panel, the wrong element count) is refused when the session is
/// made, with an error naming the node, the layout, both shapes and what the shapes run as; it never reads
/// past the tensor or runs a kernel on the wrong layout.
@Suite struct PreparedFiltersMismatchTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var layout: PreparedFilters
        var filters: Int, kernel: Int, stride: Int
        /// The fifth input's shape.
        var prepared: [Int]
        /// What the error says the convolution runs as.
        var runsAs: String
        var testDescription: String { "\(layout.rawValue) \(describe(prepared)) on \(filters) filters \(kernel)x\(kernel) stride \(stride)" }

        /// `x` [1, 16, 8, 8] through one FusedConv whose filters are `w` and whose prepared filters are `p`.
        func model() -> Model {
            let pads = kernel == 3 ? 1 : 0
            let window = WindowAttributes(strides: [stride, stride], pads: Array(repeating: pads, count: 4))
            let attributes = FusedConvAttributes(conv: ConvAttributes(window: window), activation: .relu, prepared: layout)
            var random = SplitMix64(seed: 5)
            return HandBuiltGraphs.model(
                nodes: [HandBuiltGraphs.node(FusedConvAttributes.opType, .fusedConv(attributes), ["x", "w", "", "", "p"], ["y"])],
                inputs: [("x", [1, 16, 8, 8])], outputs: ["y"],
                initializers: [HandBuiltGraphs.weights("w", [filters, 16, kernel, kernel], &random),
                               .floats([Float](repeating: 0, count: prepared.reduce(1, *)), shape: prepared, name: "p")])
        }
    }

    static let cases: [Case] = [
        // The stride-2 layout on a stride-1 convolution, and on too few filters for one panel of 32.
        Case(layout: .winogradStride2Packed, filters: 32, kernel: 3, stride: 1, prepared: [16, 1, 16, 32], runsAs: "a direct convolution"),
        Case(layout: .winogradStride2Packed, filters: 16, kernel: 3, stride: 2, prepared: [16, 1, 16, 32], runsAs: "a direct convolution"),
        // The right layout with F(4x4)'s 36 positions where the stride-2 transform has 16.
        Case(layout: .winogradStride2Packed, filters: 32, kernel: 3, stride: 2, prepared: [36, 1, 16, 32],
             runsAs: "the stride-2 Winograd F(2x2, 3x3) on 8192 floats"),
        // F(4x4) transforms on a stride-2 convolution; F(2x2) ones on a 1x1.
        Case(layout: .winograd4x4Packed, filters: 32, kernel: 3, stride: 2, prepared: [36, 1, 16, 32], runsAs: "a direct convolution"),
        Case(layout: .winograd, filters: 32, kernel: 1, stride: 1, prepared: [16, 32, 16], runsAs: "a direct convolution"),
        // One filter short of the panels the convolution reads.
        Case(layout: .winogradPacked, filters: 32, kernel: 3, stride: 1, prepared: [16, 1, 16, 31],
             runsAs: "Winograd F(2x2, 3x3) on 8192 floats"),
        Case(layout: .winograd4x4Packed, filters: 32, kernel: 3, stride: 1, prepared: [36, 1, 16, 31],
             runsAs: "Winograd F(4x4, 3x3) on 18432 floats"),
    ]

    @Test(arguments: cases)
    func winogradFiltersThatDoNotFitAreRefused(_ c: Case) throws {
        #expect {
            try Session(model: c.model())
        } throws: { error in
            guard case RuntimeError.unsupportedAttribute(let node, let opType, let reason) = error else { return false }
            return node == "node_y" && opType == FusedConvAttributes.opType && reason.contains(c.layout.rawValue)
                && reason.contains(describe(c.prepared)) && reason.contains("input [1, 16, 8, 8]")
                && reason.contains("filters \(describe([c.filters, 16, c.kernel, c.kernel]))") && reason.contains("runs as \(c.runsAs)")
        }
    }

    /// Packed filters for one 1x1 filter too few, and 3x3 ones packed as if the kernel were 1x1.
    @Test(arguments: [(1, [1, 16, 31]), (3, [1, 16, 32])])
    func packedFiltersThatDoNotFitAreRefused(kernel: Int, prepared: [Int]) throws {
        let c = Case(layout: .packed, filters: 32, kernel: kernel, stride: 1, prepared: prepared, runsAs: "")
        #expect {
            try Session(model: c.model())
        } throws: { error in
            guard case RuntimeError.unsupportedAttribute(let node, _, let reason) = error else { return false }
            return node == "node_y" && reason.contains("packed filters \(describe(prepared))")
                && reason.contains("\(32 * 16 * kernel * kernel) floats for 32 filters of \(16 * kernel * kernel)")
        }
    }

    /// The control: each layout's fitting shape on the same graphs makes a session, so the cases above fail
    /// for their mismatch and nothing else.
    @Test(arguments: [
        (PreparedFilters.winogradStride2Packed, 2, [16, 1, 16, 32]), (.winograd4x4Packed, 1, [36, 1, 16, 32]),
        (.winogradPacked, 1, [16, 1, 16, 32]), (.winograd, 1, [16, 32, 16]), (.packed, 1, [1, 144, 32]),
    ])
    func fittingPreparedFiltersMakeASession(layout: PreparedFilters, stride: Int, prepared: [Int]) throws {
        let c = Case(layout: layout, filters: 32, kernel: 3, stride: stride, prepared: prepared, runsAs: "")
        let session = try Session(model: c.model())
        #expect(try session.run(["x": .floats([Float](repeating: 1, count: 16 * 64), shape: [1, 16, 8, 8], name: "x")])["y"] != nil)
    }
}
