import Foundation
import Resin
import ResinIR
import TestSupport
@testable import ResinImage

/// Fixtures/images: tiny images made by tools/gen_images.py --fixtures, with Pillow's and torchvision's
/// references beside them.
enum ImageFixtures {
    static var folder: String { TestPaths.fixtures + "/images" }

    /// What manifest.json says of every fixture: "exact", "gray16" or "error". A missing or unreadable
    /// manifest stops the run rather than leaving the tests without cases.
    static let manifest: [String: String] = {
        let path = folder + "/manifest.json"
        guard let data = FileManager.default.contents(atPath: path),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: String], !object.isEmpty
        else { fatalError("cannot read \(path): run tools/gen_images.py --fixtures") }
        return object
    }()

    /// The images that decode, sorted.
    static var images: [String] { manifest.filter { $0.value != "error" }.keys.sorted() }

    /// The images every decoder must refuse, sorted.
    static var broken: [String] { manifest.filter { $0.value == "error" }.keys.sorted() }

    /// The recipes tools/gen_images.py made references for (its FIXTURE_RECIPES).
    static let recipes: [String: PreprocessingRecipe] = [
        "down": PreprocessingRecipe(
            resize: 12, cropHeight: 10, cropWidth: 9, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]),
        "padded": PreprocessingRecipe(
            resize: 8, cropHeight: 13, cropWidth: 6, mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3]),
        "up": PreprocessingRecipe(
            resize: 30, cropHeight: 15, cropWidth: 17, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225],
            channelOrder: .bgr, layout: .nhwc),
    ]

    static func path(_ name: String) -> String { folder + "/" + name }

    /// `NAME.SUFFIX.npy` beside image `name`.
    static func reference(_ name: String, _ suffix: String) throws -> ResinIR.Tensor {
        let base = name.split(separator: ".").dropLast().joined(separator: ".")
        return try TensorFile.read(path: path("\(base).\(suffix).npy"))
    }

    /// The bytes of a fixture.
    static func bytes(_ name: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path(name)) else {
            throw MissingFixture(path: path(name))
        }
        return [UInt8](data)
    }
}

extension ResinIR.Tensor {
    /// The elements of a uint8 tensor.
    var uint8Values: [UInt8] { Array(storage.bytes) }

    /// The elements of a float32 tensor.
    var floatValues: [Float] {
        (0..<storage.bytes.count / 4).map { storage.bytes.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
    }
}

/// A fixture file that could not be read.
struct MissingFixture: Error, CustomStringConvertible {
    var path: String
    var description: String { "cannot read \(path): run tools/gen_images.py --fixtures" }
}
