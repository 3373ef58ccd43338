import ResinIR

/// A `[NAME=]FILE` argument of `run` and `verify`.
public struct TensorArgument: Sendable, Equatable {
    public var name: String?
    public var path: String

    /// Splits `NAME=FILE` when NAME is one of `names`; otherwise the whole text is a path (paths may contain '=').
    public init(parsing text: String, names: [String]) {
        if let equals = text.firstIndex(of: "="), names.contains(String(text[..<equals])) {
            name = String(text[..<equals])
            path = String(text[text.index(after: equals)...])
        } else {
            name = nil
            path = text
        }
    }
}

/// Why tensors could not be bound to a model's inputs or outputs.
public struct BindingError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Binds tensors to names: named ones by name, unnamed ones in order to the names not yet bound.
public func bindTensors(_ tensors: [(name: String?, tensor: Tensor, source: String)], to names: [String], role: String) throws -> [String: Tensor] {
    var bound: [String: Tensor] = [:]
    for entry in tensors {
        guard let name = entry.name else { continue }
        guard names.contains(name) else {
            throw BindingError("\(entry.source): the model has no \(role) '\(name)' (its \(role)s: \(names.joined(separator: ", ")))")
        }
        bound[name] = entry.tensor
    }
    var free = names.filter { bound[$0] == nil }.makeIterator()
    for entry in tensors where entry.name == nil {
        guard let name = free.next() else {
            throw BindingError("\(entry.source): more tensors than the model has \(role)s (\(names.joined(separator: ", ")))")
        }
        bound[name] = entry.tensor
    }
    return bound
}

extension Tensor {
    /// The tensor converted to `type` when the conversion is the usual widening or narrowing of NumPy's
    /// defaults (float64 to float32, int32 to int64 and back); nil otherwise.
    public func converted(to type: DataType) -> Tensor? {
        if dataType == type { return self }
        guard let values = doubleValues else { return nil }
        let storage: TensorStorage
        switch (dataType, type) {
        case (.double, .float), (.float16, .float):
            storage = TensorStorage(byteCount: values.count * 4) { out in
                for (index, value) in values.enumerated() { out.storeBytes(of: Float(value), toByteOffset: index * 4, as: Float.self) }
            }
        case (.int32, .int64):
            storage = TensorStorage(byteCount: values.count * 8) { out in
                for (index, value) in values.enumerated() { out.storeBytes(of: Int64(value), toByteOffset: index * 8, as: Int64.self) }
            }
        default:
            return nil
        }
        return Tensor(name: name, dataType: type, shape: shape, storage: storage)
    }
}
