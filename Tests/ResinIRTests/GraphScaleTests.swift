import Foundation
import Testing
@testable import ResinIR

/// Graph-wide traversals on graphs far larger than any network: a million-node chain on a thread with a
/// small stack (no traversal may recurse once per node), and orders that would expose a sort per step.
@Suite struct GraphScaleTests {
    static let relu = try! Operator(opType: "Relu", domain: "", attributes: [], opset: 13)

    /// `count` Relu nodes, each reading the previous one's output.
    static func chain(_ count: Int) -> Graph {
        let nodes = (0..<count).map { Node(name: "r\($0)", opType: "Relu", inputs: ["v\($0)"], outputs: ["v\($0 + 1)"], op: relu) }
        return Graph(nodes: nodes, inputs: [input("v0", [.fixed(1), .fixed(3)])], outputs: [output("v\(count)")])
    }

    /// Runs `body` on a new thread with a 256 KiB stack and waits for it; a recursion per node overflows it.
    static func onSmallStack(_ body: @escaping @Sendable () -> Void) {
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            body()
            done.signal()
        }
        thread.stackSize = 256 * 1024
        thread.start()
        done.wait()
    }

    @Test func aMillionNodeChainVerifiesSortsAndInfersOnASmallStack() {
        let graph = Self.chain(1_000_000)
        let outcome = Outcome()
        Self.onSmallStack {
            do {
                try graph.verify()
                let order = try graph.topologicalOrder()
                let facts = try graph.inferFacts()
                outcome.inOrder = order == Array(0..<1_000_000)
                outcome.dimensions = facts["v1000000"]?.dimensions
            } catch {
                outcome.error = "\(error)"
            }
        }
        #expect(outcome.error == nil)
        #expect(outcome.inOrder, "a chain in file order keeps it")
        #expect(outcome.dimensions == [.fixed(1), .fixed(3)])
    }

    @Test func aReversedChainSortsIntoExecutionOrder() throws {
        var graph = Self.chain(100_000)
        graph.nodes.reverse()
        let order = try graph.topologicalOrder()
        #expect(order == Array((0..<100_000).reversed()))
    }

    @Test func aWideGraphReleasingNodesOneByOneSortsInOrder() throws {
        // Pairs listed reader first: b_i reads what a_i makes from x. All hundred thousand a_i are ready at
        // once and each releases its b_i, which must come next (the smallest ready index): a sort of the
        // ready set per release would make this quadratic.
        var nodes: [Node] = []
        for pair in 0..<100_000 {
            nodes.append(Node(name: "b\(pair)", opType: "Relu", inputs: ["w\(pair)"], outputs: ["y\(pair)"], op: Self.relu))
            nodes.append(Node(name: "a\(pair)", opType: "Relu", inputs: ["x"], outputs: ["w\(pair)"], op: Self.relu))
        }
        let graph = Graph(nodes: nodes, inputs: [input("x", [.fixed(2)])], outputs: [output("y0")])
        let order = try graph.topologicalOrder()
        let expected: [Int] = (0..<100_000).flatMap { (pair: Int) -> [Int] in [2 * pair + 1, 2 * pair] }
        #expect(order == expected)
    }
}

/// What the small-stack thread found, read after it signalled.
private final class Outcome: @unchecked Sendable {
    var inOrder = false
    var dimensions: [ResinIR.Dimension]?
    var error: String?
}
