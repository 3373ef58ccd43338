/// The CPU kernels: free functions over raw pointers and shapes, grouped by operator family in files
/// `Kernels+*.swift`, each with a plain reference implementation beside it for tests.
///
/// Contract for every kernel: pointers cover the element counts their shapes give; outputs never alias
/// inputs unless a kernel says so; nothing is allocated and no reference is counted inside the loops
/// (the executor binds every pointer and shape once, when a session is made).
public enum Kernels {}

/// A failure a kernel can only detect while running, such as a Gather index out of range.
public struct KernelError: Error, Equatable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
