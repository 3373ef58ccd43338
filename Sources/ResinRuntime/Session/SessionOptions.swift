import ResinIR

/// How a session is made: the batch it runs, the threads it uses.
public struct SessionOptions: Sendable, Equatable {
    /// The batch size bound to symbolic leading dimensions of the inputs (a batch named `N`, say).
    /// Nil takes it from `inputShapes`, or else 1.
    public var batch: Int?
    /// Threads for the whole process: OpenBLAS and Resin's own loops.
    public var threads: Int
    /// Concrete shapes of inputs, which bind any symbolic dimension they fill.
    public var inputShapes: [String: [Int]]
    /// Inputs whose values are fixed for the session's life: they become constants, so shapes that
    /// depend on them (a Reshape target or Pad amounts fed as inputs) resolve, and they fold. They are
    /// no longer session inputs.
    public var fixedInputs: [String: Tensor]

    public init(batch: Int? = nil, threads: Int = 1, inputShapes: [String: [Int]] = [:], fixedInputs: [String: Tensor] = [:]) {
        self.batch = batch
        self.threads = threads
        self.inputShapes = inputShapes
        self.fixedInputs = fixedInputs
    }
}
