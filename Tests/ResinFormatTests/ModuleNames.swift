import ResinIR

// `import Resin` brings the library's public `Model` and `Tensor`, which wrap the IR's; these tests work on
// the IR's directly.
typealias Model = ResinIR.Model
typealias Tensor = ResinIR.Tensor
