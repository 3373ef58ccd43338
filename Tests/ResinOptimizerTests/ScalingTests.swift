import ResinIR
import ResinRuntime
import Testing
@testable import ResinOptimizer

/// The optimizer's and the planner's work, counted in steps, grows with the graph and not with its square:
/// doubling a graph at most about doubles every count. Counts, not clocks, so the checks hold on any
/// machine and any load; a rule that rescans the graph per match doubles its count twice over.
@Suite struct OptimizerScalingTests {
    /// A chain of `count` Relu nodes on a [1, 4] input: nothing fuses, so every rule sees every node.
    static func reluChain(_ count: Int) throws -> Graph {
        let relu = try Operator(opType: "Relu", domain: "", attributes: [], opset: 13)
        let nodes = (0..<count).map { Node(name: "relu\($0)", opType: "Relu", inputs: ["v\($0)"], outputs: ["v\($0 + 1)"], op: relu) }
        return Graph(nodes: nodes, inputs: [input("v0", [.fixed(1), .fixed(4)])], outputs: [output("v\(count)")])
    }

    /// `count` blocks of Conv, BatchNormalization, Add (a residual from the block's input) and Relu: each
    /// block gives every fusion rule one rewrite.
    static func residualBlocks(_ count: Int) throws -> Graph {
        var nodes: [Node] = []
        var initializers: [Tensor] = []
        var value = "x"
        for block in 0..<count {
            initializers += [
                floats("w\(block)", seeded(4, seed: UInt64(block)), [2, 2, 1, 1]), floats("g\(block)", [1, 0.5], [2]),
                floats("b\(block)", [0.1, -0.1], [2]), floats("m\(block)", [0, 0.2], [2]), floats("v\(block)", [1, 2], [2]),
            ]
            nodes += [
                try node("Conv", [value, "w\(block)"], ["c\(block)"]),
                try node("BatchNormalization", ["c\(block)", "g\(block)", "b\(block)", "m\(block)", "v\(block)"], ["n\(block)"]),
                try node("Add", ["n\(block)", value], ["a\(block)"]),
                try node("Relu", ["a\(block)"], ["r\(block)"]),
            ]
            value = "r\(block)"
        }
        return Graph(nodes: nodes, inputs: [input("x", [.fixed(1), .fixed(2), .fixed(2), .fixed(2)])], outputs: [output(value)],
                     initializers: initializers)
    }

    /// Whether `larger` is at most about twice `smaller` (a tenth of slack for fixed costs).
    static func atMostAboutDouble(_ smaller: Int, _ larger: Int) -> Bool {
        larger <= 2 * smaller + smaller / 10
    }

    @Test func aReluChainOfFortyThousandCostsTwiceHalfOfIt() throws {
        let (half, halfReport) = try optimize(try Self.reluChain(20_000), with: Optimizer.standard.passes)
        let (full, fullReport) = try optimize(try Self.reluChain(40_000), with: Optimizer.standard.passes)
        #expect(half.nodes.count == 20_000 && full.nodes.count == 40_000, "a Relu chain has nothing to rewrite")
        let small = halfReport.statistics
        let large = fullReport.statistics
        try #require(small.ruleVisits >= 20_000, "every rule visits every node at least once")
        #expect(large.rounds == small.rounds)
        #expect(Self.atMostAboutDouble(small.ruleVisits, large.ruleVisits), "rule visits \(small.ruleVisits) then \(large.ruleVisits)")
        #expect(Self.atMostAboutDouble(small.verifiedNodes, large.verifiedNodes))
    }

    @Test func fusionRichBlocksCostTwiceWhenDoubled() throws {
        let (half, halfReport) = try optimize(try Self.residualBlocks(1_250), with: Optimizer.standard.passes)
        let (full, fullReport) = try optimize(try Self.residualBlocks(2_500), with: Optimizer.standard.passes)
        // Every block folds its BatchNormalization and fuses its Add and Relu into one FusedConv.
        #expect(fullReport.batchNormFolded == 2_500 && fullReport.residualAddFused == 2_500 && fullReport.activationFused == 2_500)
        #expect(half.nodes.count == 1_250 && full.nodes.count == 2_500)
        #expect(full.nodes.allSatisfy { $0.opType == FusedConvAttributes.opType })
        let small = halfReport.statistics
        let large = fullReport.statistics
        try #require(small.ruleVisits >= 1_250 * 4)
        #expect(large.rounds == small.rounds)
        #expect(Self.atMostAboutDouble(small.ruleVisits, large.ruleVisits), "rule visits \(small.ruleVisits) then \(large.ruleVisits)")
        #expect(Self.atMostAboutDouble(small.verifiedNodes, large.verifiedNodes),
                "verified nodes \(small.verifiedNodes) then \(large.verifiedNodes)")
    }

    @Test func fusedBlocksComputeWhatTheOriginalDoes() throws {
        // The rewrites made by the single-sweep rules keep the graph's meaning (references: the unfused graph,
        // run node by node on the runtime's plain kernels).
        let graph = try Self.residualBlocks(40)
        let (fused, _) = try optimize(graph, with: Optimizer.standard.passes)
        #expect(fused.nodes.count == 40)
        let feed = Tensor.floats(seeded(8, seed: 7), shape: [1, 2, 2, 2], name: "x")
        let expected = try run(graph, feeds: ["x": feed])
        let actual = try run(fused, feeds: ["x": feed])
        #expect(actual.count == expected.count)
        #expect(maxDifference(actual, expected) <= 1e-4 * max(1, expected.map(abs).max() ?? 0))
    }

    @Test func aChainOfIdentitiesGoesInOneRound() throws {
        let identity = try Operator(opType: "Identity", domain: "", attributes: [], opset: 13)
        let relu = try Operator(opType: "Relu", domain: "", attributes: [], opset: 13)
        var nodes = (0..<20_000).map { Node(name: "id\($0)", opType: "Identity", inputs: ["v\($0)"], outputs: ["v\($0 + 1)"], op: identity) }
        nodes.append(Node(name: "last", opType: "Relu", inputs: ["v20000"], outputs: ["y"], op: relu))
        let graph = Graph(nodes: nodes, inputs: [input("v0", [.fixed(1), .fixed(4)])], outputs: [output("y")])
        let (optimized, report) = try optimize(graph, with: [EliminateIdentity(), EliminateDeadNodes()])
        #expect(optimized.opTypes == ["Relu"])
        #expect(optimized.nodes[0].inputs == ["v0"])
        #expect(report.count("eliminate-identity") == 20_000)
        #expect(report.statistics.ruleVisits <= 4 * 20_001, "each node visited a bounded number of times")
    }

    @Test func aDeadChainGoesInOneSweep() throws {
        // Only the first Relu feeds the output; the 30,000 after it are dead, each kept alive by the next until
        // that one goes: the worklist removes them one after the other without rescanning.
        var graph = try Self.reluChain(30_000)
        graph.outputs = [output("v1")]
        let (optimized, report) = try optimize(graph, with: [EliminateDeadNodes()])
        #expect(optimized.nodes.count == 1)
        #expect(report.statistics.ruleVisits == 29_999)
    }
}

/// The planner looks only at the placed blocks whose lifetimes meet the one it places.
@Suite struct PlannerScalingTests {
    /// A chain's tensors: block i is written at step i and read at step i + 1, sizes varying.
    static func chainBlocks(_ count: Int) -> [PlannedBlock] {
        (0..<count).map { PlannedBlock(size: 64 * (1 + $0 % 7), firstStep: $0, lastStep: $0 + 1) }
    }

    @Test func doublingAChainAtMostDoublesTheExaminedPlacements() {
        var small = 0
        var large = 0
        let smallPlan = MemoryPlanner.plan(Self.chainBlocks(100_000), examined: &small)
        let largePlan = MemoryPlanner.plan(Self.chainBlocks(200_000), examined: &large)
        #expect(small >= 100_000)
        #expect(large <= 2 * small + small / 10, "examined \(small) then \(large)")
        // Two tensors live at once at most: the arena is the lower bound.
        #expect(smallPlan.arenaBytes == smallPlan.lowerBoundBytes && largePlan.arenaBytes == largePlan.lowerBoundBytes)
    }

    /// The greedy-by-size best fit written plainly: every placed block scanned for every new one.
    static func referencePlan(_ blocks: [PlannedBlock]) -> [Int] {
        let sizes = blocks.map { MemoryPlanner.aligned($0.size) }
        let order = blocks.indices.sorted {
            (-sizes[$0], blocks[$0].firstStep, $0) < (-sizes[$1], blocks[$1].firstStep, $1)
        }
        var offsets = Array(repeating: 0, count: blocks.count)
        var placed: [(offset: Int, block: Int)] = []
        for index in order {
            // By offset, ties in placement order.
            let neighbours = placed.enumerated().filter { blocks[$0.element.block].overlaps(blocks[index]) }
                .sorted { ($0.element.offset, $0.offset) < ($1.element.offset, $1.offset) }.map(\.element)
            var best: (offset: Int, gap: Int)?
            var cursor = 0
            for (offset, other) in neighbours {
                let gap = offset - cursor
                if gap >= sizes[index], gap < (best?.gap ?? .max) { best = (cursor, gap) }
                cursor = max(cursor, offset + sizes[other])
            }
            offsets[index] = best?.offset ?? cursor
            placed.append((offsets[index], index))
        }
        return offsets
    }

    @Test(arguments: 0..<20) func placesAsThePlainScanDoes(seed: UInt64) {
        var state = seed &+ 1
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 33) % bound
        }
        let steps = 1 + next(40)
        let blocks = (0..<(1 + next(120))).map { _ in
            let first = next(steps)
            return PlannedBlock(size: next(5) == 0 ? 0 : 1 + next(4096), firstStep: first, lastStep: first + next(steps - first + 1))
        }
        let plan = MemoryPlanner.plan(blocks)
        #expect(plan.offsets == Self.referencePlan(blocks))
        for a in blocks.indices {
            for b in blocks.indices where a < b && blocks[a].overlaps(blocks[b]) {
                let endA = plan.offsets[a] + MemoryPlanner.aligned(blocks[a].size)
                let endB = plan.offsets[b] + MemoryPlanner.aligned(blocks[b].size)
                #expect(endA <= plan.offsets[b] || endB <= plan.offsets[a] || blocks[a].size == 0 || blocks[b].size == 0)
            }
        }
    }
}
