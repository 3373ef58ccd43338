/// One block the planner places: a tensor or a kernel workspace, with the steps during which it is live.
public struct PlannedBlock: Equatable, Sendable {
    /// Bytes the block needs.
    public var size: Int
    /// The first step that writes it (graph inputs: 0).
    public var firstStep: Int
    /// The last step that reads it (graph outputs: the last step).
    public var lastStep: Int

    public init(size: Int, firstStep: Int, lastStep: Int) {
        precondition(size >= 0 && firstStep <= lastStep, "a block needs a size and a non-empty lifetime")
        self.size = size
        self.firstStep = firstStep
        self.lastStep = lastStep
    }

    /// Whether two blocks are live at a common step, and so must not share bytes.
    public func overlaps(_ other: PlannedBlock) -> Bool {
        firstStep <= other.lastStep && other.firstStep <= lastStep
    }
}

/// Where every block lives in one arena, with the figures `inspect` reports.
///
/// Offsets, not pointers: the plan is a value computed once and committed to memory by the session.
public struct MemoryPlan: Equatable, Sendable {
    /// Byte offset of each block, in the order the blocks were given.
    public var offsets: [Int]
    /// The arena size: the end of the highest block.
    public var arenaBytes: Int
    /// The largest total of blocks live at one step: no plan can use less.
    public var lowerBoundBytes: Int
    /// The sum of all blocks: what giving each its own memory would cost.
    public var noReuseBytes: Int

    public static let empty = MemoryPlan(offsets: [], arenaBytes: 0, lowerBoundBytes: 0, noReuseBytes: 0)
}

/// Places blocks in one arena by greedy-by-size with best fit (Pisarchyk and Lee, "Efficient Memory
/// Management for Deep Neural Net Inference", 2020; TFLite's arena planner works this way).
///
/// Blocks are taken largest first; each goes into the smallest gap, among the blocks already placed whose
/// lifetimes overlap its own, that holds it, or else above the highest of them. Placing large blocks
/// first lets small ones fill the holes between them; on ResNet-50 this meets the lower bound, where an
/// online best fit in execution order ends tens of percent above it.
public enum MemoryPlanner {
    /// Alignment of every offset and size: a cache line, and what wide vector loads prefer.
    public static let alignment = 64

    /// `size` rounded up to the alignment.
    public static func aligned(_ size: Int) -> Int {
        (size + alignment - 1) / alignment * alignment
    }

    /// Plans the blocks.
    public static func plan(_ blocks: [PlannedBlock]) -> MemoryPlan {
        var examined = 0
        return plan(blocks, examined: &examined)
    }

    /// Plans the blocks and counts in `examined` the placed blocks looked at while choosing gaps: the
    /// figure tests use to check that planning grows with the graph and not with its square.
    ///
    /// Each block looks only at the placed blocks whose lifetimes meet its own, found through
    /// `PlacedLifetimes` in logarithmic time per block found, never by scanning every placement; on a
    /// network's chain of layers that is a handful per block however long the chain.
    public static func plan(_ blocks: [PlannedBlock], examined: inout Int) -> MemoryPlan {
        let sizes = blocks.map { aligned($0.size) }
        // Largest first; ties by earlier start, then by index, so the plan is deterministic.
        let order = blocks.indices.sorted {
            sizes[$0] != sizes[$1] ? sizes[$0] > sizes[$1]
                : blocks[$0].firstStep != blocks[$1].firstStep ? blocks[$0].firstStep < blocks[$1].firstStep : $0 < $1
        }
        var offsets = Array(repeating: 0, count: blocks.count)
        var placedAt = Array(repeating: 0, count: blocks.count)  // placement sequence, for ties in offset
        var placed = PlacedLifetimes(blocks)
        var arena = 0
        for (sequence, index) in order.enumerated() {
            let block = blocks[index]
            let size = sizes[index]
            // The overlapping placed blocks by offset, ties in placement order: the gaps between them.
            let neighbours = placed.overlapping(block).sorted {
                offsets[$0] != offsets[$1] ? offsets[$0] < offsets[$1] : placedAt[$0] < placedAt[$1]
            }
            examined += neighbours.count + 1
            var best: (offset: Int, gap: Int)?
            var cursor = 0
            for other in neighbours {
                let gap = offsets[other] - cursor
                if gap >= size, best.map({ gap < $0.gap }) ?? true { best = (cursor, gap) }
                cursor = max(cursor, offsets[other] + sizes[other])
            }
            let offset = best?.offset ?? cursor
            offsets[index] = offset
            placedAt[index] = sequence
            arena = max(arena, offset + size)
            placed.insert(index)
        }
        return MemoryPlan(
            offsets: offsets, arenaBytes: arena, lowerBoundBytes: lowerBound(blocks, sizes: sizes),
            noReuseBytes: sizes.reduce(0, +))
    }

    /// The largest total of aligned block sizes live at one step.
    static func lowerBound(_ blocks: [PlannedBlock], sizes: [Int]) -> Int {
        guard let last = blocks.map(\.lastStep).max(), let first = blocks.map(\.firstStep).min() else { return 0 }
        // A sweep over start and end events: +size at firstStep, -size after lastStep.
        var delta = [Int: Int]()
        for (index, block) in blocks.enumerated() {
            delta[block.firstStep, default: 0] += sizes[index]
            delta[block.lastStep + 1, default: 0] -= sizes[index]
        }
        var live = 0
        var peak = 0
        for step in first...(last + 1) {
            live += delta[step] ?? 0
            peak = max(peak, live)
        }
        return peak
    }
}

/// The placed blocks, searchable by lifetime: which of them are live at some step of a given interval.
///
/// Blocks sit in a fixed order by first step; a segment tree over that order keeps, per range, the
/// latest last step among the placed blocks in it. A query walks only ranges that start early enough and
/// hold a block that ends late enough, so it costs O((k + 1) log n) for k blocks found.
struct PlacedLifetimes {
    private let blocks: [PlannedBlock]
    /// Block indices ordered by first step; a leaf's position in the tree is its position here.
    private let byStart: [Int]
    private var leafOf: [Int]
    private var width = 1
    /// Latest last step of a placed block in each tree range; `Int.min` where none is placed.
    private var latestEnd: [Int]

    init(_ blocks: [PlannedBlock]) {
        self.blocks = blocks
        byStart = blocks.indices.sorted { (blocks[$0].firstStep, $0) < (blocks[$1].firstStep, $1) }
        leafOf = Array(repeating: 0, count: blocks.count)
        for (position, block) in byStart.enumerated() { leafOf[block] = position }
        while width < blocks.count { width *= 2 }
        latestEnd = Array(repeating: Int.min, count: 2 * width)
    }

    mutating func insert(_ block: Int) {
        var node = width + leafOf[block]
        latestEnd[node] = blocks[block].lastStep
        while node > 1 {
            node /= 2
            latestEnd[node] = max(latestEnd[2 * node], latestEnd[2 * node + 1])
        }
    }

    /// Placed blocks live at some step of `block`'s lifetime.
    func overlapping(_ block: PlannedBlock) -> [Int] {
        // Blocks that start no later than this one ends: a prefix of `byStart`.
        var low = 0
        var high = byStart.count
        while low < high {
            let middle = (low + high) / 2
            if blocks[byStart[middle]].firstStep <= block.lastStep { low = middle + 1 } else { high = middle }
        }
        let prefix = low
        var found: [Int] = []
        // Of those, the ones that end no earlier than this one starts; an explicit stack of tree ranges.
        var stack: [(node: Int, start: Int, count: Int)] = [(1, 0, width)]
        while let (node, start, count) = stack.popLast() {
            guard start < prefix, latestEnd[node] >= block.firstStep else { continue }
            if count == 1 {
                found.append(byStart[start])
            } else {
                let half = count / 2
                stack.append((2 * node + 1, start + half, half))
                stack.append((2 * node, start, half))
            }
        }
        return found
    }
}
