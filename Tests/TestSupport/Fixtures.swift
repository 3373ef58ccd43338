import Foundation
import Resin

/// Paths of the repository's fixtures and of the built `resin` executable.
public enum TestPaths {
    /// The repository root, found from this file's location.
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// `Fixtures/`.
    public static var fixtures: String { root + "/Fixtures" }

    /// The names of the bundled fixture folders, sorted.
    public static var fixtureNames: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: fixtures)) ?? []
        return names.filter { FileManager.default.fileExists(atPath: "\(fixtures)/\($0)/model.onnx") }.sorted()
    }

    /// The model file of a fixture.
    public static func model(_ fixture: String) -> String { "\(fixtures)/\(fixture)/model.onnx" }

    /// The `resin` executable built beside the test bundle.
    public static var executable: String {
        let bundle = Bundle.main.bundleURL.deletingLastPathComponent()
        for candidate in [bundle.appendingPathComponent("resin").path,
                          root + "/.build/debug/resin"] where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        return root + "/.build/debug/resin"
    }
}

/// A fresh temporary folder, removed when the value goes away.
public final class TemporaryFolder: @unchecked Sendable {
    public let path: String

    public init() throws {
        let base = NSTemporaryDirectory() + "resin-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        path = base
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// A path inside the folder.
    public func file(_ name: String) -> String { path + "/" + name }
}
