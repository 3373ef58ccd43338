import Dispatch
import Testing
import TestSupport
@testable import ResinImage

/// Decoding and preprocessing hold no shared state: images decoded and preprocessed on many threads at once
/// equal the same work done one at a time (tools/sanitize runs this suite under ThreadSanitizer).
@Suite struct ConcurrentDecodingTests {
    @Test func manyThreadsAgreeWithOne() throws {
        let names = ImageFixtures.images
        let expected = names.map(Self.work)
        // Broken files too: their errors travel through the C decoders' longjmp on many threads at once.
        let broken = ImageFixtures.broken.map { name in Result { () throws(ImageError) in try ImageDecoder.decode(file: ImageFixtures.path(name)) } }
        let rounds = 4
        let results = Locked([Int: Bool]())
        DispatchQueue.concurrentPerform(iterations: names.count * rounds + broken.count * rounds) { index in
            if index < names.count * rounds {
                let slot = index % names.count
                let same = Self.work(names[slot]) == expected[slot]
                results.withValue { $0[index] = same }
            } else {
                let slot = (index - names.count * rounds) % broken.count
                let outcome = Result { () throws(ImageError) in try ImageDecoder.decode(file: ImageFixtures.path(ImageFixtures.broken[slot])) }
                let same = outcome == broken[slot]
                results.withValue { $0[index] = same }
            }
        }
        let outcomes = results.withValue { $0 }
        #expect(outcomes.count == (names.count + broken.count) * rounds)
        #expect(outcomes.values.allSatisfy { $0 }, "\(outcomes.values.filter { !$0 }.count) runs differ from the single-threaded ones")
        // The references themselves: every image decoded, every broken file refused.
        #expect(expected.allSatisfy { if case .success = $0 { true } else { false } })
        #expect(broken.allSatisfy { if case .failure = $0 { true } else { false } })
    }

    /// One image decoded and preprocessed with the fixtures' "down" recipe.
    static func work(_ name: String) -> Result<[Float], ImageError> {
        Result { () throws(ImageError) in
            let recipe = ImageFixtures.recipes["down"]!
            let image = try ImageDecoder.decode(file: ImageFixtures.path(name))
            var values = [Float](repeating: .nan, count: recipe.valuesPerImage)
            values.withUnsafeMutableBufferPointer { recipe.apply(to: image, into: $0) }
            return values
        }
    }
}

/// A value behind a lock, for collecting results from many threads.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = DispatchSemaphore(value: 1)

    init(_ value: Value) { self.value = value }

    func withValue<Result>(_ body: (inout Value) -> Result) -> Result {
        lock.wait()
        defer { lock.signal() }
        return body(&value)
    }
}
