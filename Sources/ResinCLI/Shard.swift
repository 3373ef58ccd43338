/// One of N deterministic slices of a sorted input list, for batch scoring spread over a Kubernetes Indexed
/// Job, a Slurm job array or any set of processes that each know their index.
struct Shard: Equatable, CustomStringConvertible {
    /// This slice's index, 0-based.
    var index: Int
    /// How many slices the list is cut into.
    var count: Int

    /// The whole list as one slice: a run without `--shard`.
    static let whole = Shard(index: 0, count: 1)

    /// The positions of a list of `total` items that this slice takes: `index * total / count ..<
    /// (index + 1) * total / count`. Consecutive slices meet exactly, so the N slices cover every item once;
    /// slices differ by at most one item, and with more slices than items some are empty.
    func range(of total: Int) -> Range<Int> {
        // Int multiplication cannot overflow here: a list longer than 2^31 items would not fit in memory.
        (index * total / count)..<((index + 1) * total / count)
    }

    /// The index as `{shard}` in an output path shows it: zero-padded to the digits of `count - 1`, so that
    /// the shards' files sort by index as names too (`part-07` before `part-10`).
    var paddedIndex: String {
        let width = String(max(count - 1, 0)).count
        let digits = String(index)
        return String(repeating: "0", count: max(width - digits.count, 0)) + digits
    }

    var description: String { "\(index)/\(count)" }

    /// Parses `I/N` with 0 <= I < N.
    init(parsing text: String) throws(ShardError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]) else {
            throw ShardError("--shard '\(text)': expected I/N (such as 0/4) or auto")
        }
        guard count >= 1, index >= 0, index < count else {
            throw ShardError("--shard \(text): the index must be at least 0 and below the count, and the count at least 1")
        }
        self.init(index: index, count: count)
    }

    init(index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    /// The variables `--shard auto` reads, in the order it tries them.
    static let kubernetesVariables = ("JOB_COMPLETION_INDEX", "JOB_COMPLETIONS")
    static let slurmVariables = ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN")

    /// The shard a job engine assigned, from its environment: a Kubernetes Indexed Job's
    /// `JOB_COMPLETION_INDEX` of `JOB_COMPLETIONS`, else a Slurm array's `SLURM_ARRAY_TASK_ID` of
    /// `SLURM_ARRAY_TASK_COUNT`, made 0-based by subtracting `SLURM_ARRAY_TASK_MIN` when it is set (an array
    /// `--array=1-4` numbers its tasks from 1). The array must be contiguous (`--array=0-3`, not `0,2,5`):
    /// Slurm gives no task its rank among the others, so gaps would leave slices no task takes.
    static func automatic(environment: [String: String]) throws(ShardError) -> Shard {
        let (kubernetesIndex, kubernetesCount) = kubernetesVariables
        if environment[kubernetesIndex] != nil || environment[kubernetesCount] != nil {
            return try shard(index: kubernetesIndex, count: kubernetesCount, offset: nil, environment: environment)
        }
        let (slurmIndex, slurmCount, slurmMinimum) = slurmVariables
        if environment[slurmIndex] != nil || environment[slurmCount] != nil {
            return try shard(index: slurmIndex, count: slurmCount, offset: slurmMinimum, environment: environment)
        }
        throw ShardError("--shard auto: set \(kubernetesIndex) and \(kubernetesCount) (a Kubernetes Indexed Job) or "
                         + "\(slurmIndex) and \(slurmCount) (a Slurm job array); none of them is set")
    }

    private static func shard(index indexName: String, count countName: String, offset offsetName: String?,
                              environment: [String: String]) throws(ShardError) -> Shard {
        func integer(_ name: String) throws(ShardError) -> Int {
            guard let text = environment[name] else {
                throw ShardError("--shard auto: \(name) is not set (it comes with \(indexName) and \(countName))")
            }
            guard let value = Int(text.trimmingWhitespace()) else {
                throw ShardError("--shard auto: \(name)='\(text)' is not an integer")
            }
            return value
        }
        var index = try integer(indexName)
        let count = try integer(countName)
        var described = "\(indexName)=\(index)"
        if let offsetName, environment[offsetName] != nil {
            let minimum = try integer(offsetName)
            index -= minimum
            described += " minus \(offsetName)=\(minimum)"
        }
        guard count >= 1, index >= 0, index < count else {
            throw ShardError("--shard auto: \(described) gives index \(index), which is not in 0..<\(countName)=\(count)")
        }
        return Shard(index: index, count: count)
    }
}

/// A `--shard` value or environment that does not name a slice.
struct ShardError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension String {
    /// The string without leading and trailing spaces, tabs, carriage returns and newlines.
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
