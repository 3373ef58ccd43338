// The `Resin` library: one import for Swift programs that load, convert, inspect and run models.
@_exported import ResinIR
@_exported import ResinONNX
@_exported import ResinOptimizer
@_exported import ResinFormat
@_exported import ResinRuntime
