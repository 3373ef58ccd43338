import Testing
import TestSupport
@testable import ResinRuntime

@Suite struct MemoryPlannerTests {
    @Test func chainReusesMemoryLikeTheHandPlan() {
        // A chain a -> b -> c -> d of 1 KiB tensors: a and c can share, b and d can share.
        let blocks = [
            PlannedBlock(size: 1024, firstStep: 0, lastStep: 1),
            PlannedBlock(size: 1024, firstStep: 1, lastStep: 2),
            PlannedBlock(size: 1024, firstStep: 2, lastStep: 3),
            PlannedBlock(size: 1024, firstStep: 3, lastStep: 4),
        ]
        let plan = MemoryPlanner.plan(blocks)
        #expect(plan.offsets == [0, 1024, 0, 1024])
        #expect(plan.arenaBytes == 2048)
        #expect(plan.lowerBoundBytes == 2048)
        #expect(plan.noReuseBytes == 4096)
    }

    @Test func smallBlockTakesTheSmallestGapThatFits() {
        // While F is live, B and D are dead, leaving holes of 4096 (B's) and 2048 (D's) bytes between
        // live blocks; best fit puts F's 1024 bytes in the 2048-byte hole.
        let blocks = [
            PlannedBlock(size: 4096, firstStep: 0, lastStep: 10),  // A
            PlannedBlock(size: 4096, firstStep: 0, lastStep: 1),   // B
            PlannedBlock(size: 4096, firstStep: 0, lastStep: 10),  // C
            PlannedBlock(size: 2048, firstStep: 0, lastStep: 1),   // D
            PlannedBlock(size: 2048, firstStep: 0, lastStep: 10),  // E
            PlannedBlock(size: 1024, firstStep: 5, lastStep: 6),   // F
        ]
        let plan = MemoryPlanner.plan(blocks)
        #expect(plan.offsets == [0, 4096, 8192, 12288, 14336, 12288])
        #expect(plan.arenaBytes == 16384)
        #expect(plan.lowerBoundBytes == 16384)
    }

    @Test func sizesAreRoundedToTheAlignment() {
        let plan = MemoryPlanner.plan([PlannedBlock(size: 1, firstStep: 0, lastStep: 0), PlannedBlock(size: 65, firstStep: 0, lastStep: 0)])
        #expect(plan.offsets.sorted() == [0, 128])
        #expect(plan.arenaBytes == 192)
    }

    @Test(arguments: 0..<40)
    func randomGraphsNeverOverlapLiveBlocks(seed: Int) {
        var random = SplitMix64(seed: UInt64(seed) &+ 1)
        let count = 5 + Int(random.next() % 120)
        let steps = 3 + Int(random.next() % 60)
        let blocks = (0..<count).map { _ -> PlannedBlock in
            let first = Int(random.next() % UInt64(steps))
            let length = Int(random.next() % UInt64(max(1, steps / 3)))
            let size = Int(random.next() % 3) == 0 ? Int(random.next() % 100_000) : Int(random.next() % 3000)
            return PlannedBlock(size: size, firstStep: first, lastStep: min(steps, first + length))
        }
        let plan = MemoryPlanner.plan(blocks)
        for (index, block) in blocks.enumerated() {
            #expect(plan.offsets[index] % MemoryPlanner.alignment == 0)
            #expect(plan.offsets[index] + MemoryPlanner.aligned(block.size) <= plan.arenaBytes)
            for other in blocks.indices where other > index && blocks[other].overlaps(block) {
                let a = plan.offsets[index]..<(plan.offsets[index] + MemoryPlanner.aligned(block.size))
                let b = plan.offsets[other]..<(plan.offsets[other] + MemoryPlanner.aligned(blocks[other].size))
                #expect(!a.overlaps(b), "blocks \(index) and \(other) are live together and overlap")
            }
        }
        #expect(plan.arenaBytes <= plan.noReuseBytes)
        #expect(plan.arenaBytes >= plan.lowerBoundBytes)
    }
}
