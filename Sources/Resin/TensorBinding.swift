import ResinIR

/// A `[NAME=]FILE` argument of `run` and `verify`.
package struct TensorArgument: Sendable, Equatable {
    package var name: String?
    package var path: String

    /// Splits `NAME=FILE` when NAME is one of `names`; otherwise the whole text is a path (paths may contain '=').
    package init(parsing text: String, names: [String]) {
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
package struct BindingError: Error, CustomStringConvertible {
    package var message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}

/// Binds tensors to names: named ones by name, unnamed ones in order to the names not yet bound.
package func bindTensors(_ tensors: [(name: String?, tensor: ResinIR.Tensor, source: String)], to names: [String], role: String) throws -> [String: ResinIR.Tensor] {
    var bound: [String: ResinIR.Tensor] = [:]
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
