import Foundation
import Resin
import ResinIR

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

    /// The names of the bundled fixture folders, sorted. Parameterized tests take their cases from here, so
    /// an unreadable or empty `Fixtures/` stops the run with the reason instead of leaving them no cases.
    public static var fixtureNames: [String] {
        do {
            return try fixtureNames(in: fixtures)
        } catch {
            fatalError("\(error)")
        }
    }

    /// The folders of `folder` that hold a `model.onnx`, sorted; throws when the folder cannot be listed or
    /// holds none.
    public static func fixtureNames(in folder: String) throws -> [String] {
        let entries: [String]
        do {
            entries = try FileManager.default.contentsOfDirectory(atPath: folder)
        } catch {
            throw FixtureError(reason: "cannot list the fixture folder \(folder): \(error.localizedDescription)")
        }
        let names = entries.filter { FileManager.default.fileExists(atPath: "\(folder)/\($0)/model.onnx") }.sorted()
        guard !names.isEmpty else {
            throw FixtureError(reason: "the fixture folder \(folder) holds no folder with a model.onnx (\(entries.count) entries)")
        }
        return names
    }

    /// The tools' Python environment (made by tools/venv.sh).
    public static var python: String { root + "/tools/.venv/bin/python" }

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

/// Fixtures that are missing or unreadable.
public struct FixtureError: Error, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
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
