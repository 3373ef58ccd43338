import ResinIR

/// The images a `resin run --image/--images` invocation scores, in the order their records are written.
enum ImageList {
    /// The extensions a folder's images are recognised by, compared without regard to case.
    static let extensions = ["jpg", "jpeg", "png"]

    /// The images of `--image FILE...` (kept as given: the user chose the order) or of `--images DIR|LIST`
    /// (sorted, so that every shard of a job sees the same list whatever order the folder lists its files
    /// in). A folder contributes its own files whose names end in .jpg, .jpeg or .png in any case, not those
    /// of its subfolders; a list file has one path per line, blank lines and lines starting with `#` skipped,
    /// each path used as written (relative paths are relative to the working directory, not to the list).
    static func paths(images: [String], sources: [String]) throws -> [String] {
        var listed: [String] = []
        for source in sources {
            switch pathKind(source) {
            case .directory:
                let prefix = source.hasSuffix("/") ? source : source + "/"
                for name in try directoryEntries(atPath: source) where hasImageExtension(name) {
                    let path = prefix + name
                    // A folder named like an image is not one; a symbolic link to an image is.
                    if pathKind(path) != .directory { listed.append(path) }
                }
            case .other:
                listed += try entries(ofList: source)
            case .missing:
                throw FileError(path: source, reason: "no such file or folder (--images takes a folder of images or a file listing them)")
            }
        }
        return images + sorted(listed)
    }

    /// The paths of a list file.
    static func entries(ofList path: String) throws -> [String] {
        let bytes = try readFile(atPath: path)
        var paths: [String] = []
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            var entry = String(decoding: line, as: UTF8.self)
            if entry.hasSuffix("\r") { entry.removeLast() }
            // Leading and trailing spaces are kept: they can be part of a file's name.
            if entry.trimmingWhitespace().isEmpty || entry.hasPrefix("#") { continue }
            paths.append(entry)
        }
        return paths
    }

    /// Whether a file name ends in one of `extensions`.
    static func hasImageExtension(_ name: String) -> Bool {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return false }
        return extensions.contains(name[name.index(after: dot)...].lowercased())
    }

    /// Paths in byte order of their UTF-8 text: the one order the input list, the shards and
    /// `merge-results` share, independent of locale and of Unicode normalization.
    static func sorted(_ paths: [String]) -> [String] {
        paths.sorted(by: precedes)
    }

    /// The comparator of `sorted(_:)`.
    static func precedes(_ lhs: String, _ rhs: String) -> Bool {
        lhs.utf8.lexicographicallyPrecedes(rhs.utf8)
    }
}
