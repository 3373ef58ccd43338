/// How a session is made: the batch it runs, the threads it uses.
public struct SessionOptions: Sendable, Equatable {
    /// The batch size bound to symbolic leading dimensions of the inputs (a batch named `N`, say).
    /// Nil takes it from `inputShapes`, or else 1.
    public var batch: Int?
    /// Threads for the whole process: OpenBLAS and Resin's own loops.
    public var threads: Int
    /// Concrete shapes of inputs, which bind any symbolic dimension they fill.
    public var inputShapes: [String: [Int]]

    public init(batch: Int? = nil, threads: Int = 1, inputShapes: [String: [Int]] = [:]) {
        self.batch = batch
        self.threads = threads
        self.inputShapes = inputShapes
    }
}
