import ResinIR

// The library's public `Model` and `Tensor` wrap the IR's; the command works on the IR's directly.
typealias Model = ResinIR.Model
typealias Tensor = ResinIR.Tensor
