#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a path names, following symbolic links: nothing, a directory, or something else.
public enum PathKind: Sendable {
    case missing, directory, other
}

/// The kind of `path`, following symbolic links (`stat(2)`).
public func pathKind(_ path: String) -> PathKind {
    var status = stat()
    guard stat(path, &status) == 0 else { return .missing }
    return (status.st_mode & S_IFMT) == S_IFDIR ? .directory : .other
}

/// The names in a directory, without "." and "..", in no particular order.
public func directoryEntries(atPath path: String) throws -> [String] {
    guard let directory = opendir(path) else { throw FileError.system(path, "cannot list") }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name != ".", name != ".." { names.append(name) }
    }
    return names
}

/// "input_10" after "input_9": names compared with their runs of decimal digits as numbers.
public func numericOrder(_ lhs: String, _ rhs: String) -> Bool {
    var left = Array(lhs.utf8)[...]
    var right = Array(rhs.utf8)[...]
    func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
    func number(_ text: inout ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        let digits = text.prefix(while: isDigit)
        text = text.dropFirst(digits.count)
        return digits.drop { $0 == 0x30 }
    }
    while let l = left.first, let r = right.first {
        if isDigit(l), isDigit(r) {
            let a = number(&left), b = number(&right)
            if a.count != b.count { return a.count < b.count }
            if a != b { return a.lexicographicallyPrecedes(b) }
        } else {
            if l != r { return l < r }
            left = left.dropFirst()
            right = right.dropFirst()
        }
    }
    return left.isEmpty && !right.isEmpty
}
