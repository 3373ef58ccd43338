// swift-tools-version:6.1
// Resin: ResNet-family ONNX models to fast, dependable CPU inference.
import PackageDescription

let package = Package(
    name: "Resin",
    products: [
        .library(name: "Resin", targets: ["Resin"]),
        .executable(name: "resin", targets: ["ResinCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // `swift package generate-documentation --target Resin` builds the DocC catalog Sources/Resin/Resin.docc.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        // `resin serve`: an HTTP/1.1 server whose graceful shutdown drains requests on SIGTERM. Its default traits
        // are off: FullFoundation would link all of Foundation and ICU into the statically linked release binary,
        // ConfigurationSupport a configuration library the server does not use.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
    ],
    targets: [
        // C libraries, each wrapped by exactly one Swift module.
        .systemLibrary(
            name: "CProtobufC", pkgConfig: "libprotobuf-c",
            providers: [.apt(["libprotobuf-c-dev"])]),
        .systemLibrary(
            name: "COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(
            name: "CLibJPEG", pkgConfig: "libjpeg",
            providers: [.apt(["libjpeg62-turbo-dev"])]),
        .systemLibrary(
            name: "CLibPNG", pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"])]),
        // The JPEG and PNG decoders' error handling (setjmp/longjmp), kept in C so no Swift frame is jumped over.
        .target(name: "CResinImage", dependencies: ["CLibJPEG", "CLibPNG"]),
        // C code that protoc-c generates from our own schema of the ONNX wire format
        // (tools/regenerate-proto.sh).
        .target(
            name: "CONNXProto", dependencies: ["CProtobufC"],
            exclude: ["onnx-wire.proto"]),

        // The pipeline: IR <- ONNX, Optimizer, Format, Runtime <- Resin <- resin.
        .target(name: "ResinIR"),
        .target(name: "ResinONNX", dependencies: ["ResinIR", "CONNXProto", "CProtobufC"]),
        .target(name: "ResinOptimizer", dependencies: ["ResinIR"]),
        .target(name: "ResinFormat", dependencies: ["ResinIR", "ResinONNX", "CZlib"]),
        // Resin's own matrix kernels for convolutions with few output columns: one C file per instruction set
        // (function-level target attributes, no global flags), chosen at run time from CPUID and RESIN_ISA.
        .target(name: "CResinKernels"),
        .target(name: "ResinRuntime", dependencies: ["ResinIR", "COpenBLAS", "CResinKernels"]),
        .target(
            name: "Resin",
            dependencies: ["ResinIR", "ResinONNX", "ResinOptimizer", "ResinFormat", "ResinRuntime"]),
        // Images to input tensors: decoding (JPEG, PNG) and the preprocessing a model was trained with.
        .target(name: "ResinImage", dependencies: ["CResinImage"]),
        // The Open Inference Protocol over HTTP. It serves any `ServableModel`, so it does not depend on how a
        // model is loaded or run.
        .target(name: "ResinServe", dependencies: [.product(name: "Hummingbird", package: "hummingbird")]),
        .executableTarget(
            name: "ResinCLI",
            // CResinKernels: the FMA peak loop of `resin bench-kernels`, which is outside the kernel table.
            dependencies: [
                "Resin", "ResinServe", "ResinImage", "CResinKernels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // Release builds link the Swift runtime statically: a process then maps only the runtime code it
            // uses, 3 MiB less resident memory than the shared libraries (Docs/PERFORMANCE.md). The two
            // libraries FoundationEssentials (used by the argument parser) needs are not linked by
            // -static-stdlib itself.
            linkerSettings: [
                .unsafeFlags(["-static-stdlib"], .when(configuration: .release)),
                .linkedLibrary("_FoundationCollections", .when(configuration: .release)),
                .linkedLibrary("_FoundationCShims", .when(configuration: .release)),
            ]),

        // Fuzzing (tools/fuzz): the readers behind one entry point that libFuzzer and the regression tests share.
        // tools/fuzz builds the driver with -sanitize=fuzzer,address and -DFUZZING (libFuzzer's main); a plain
        // build gets a replay main instead.
        .target(name: "ResinFuzzTargets", dependencies: ["Resin", "ResinImage"], path: "Sources/ResinFuzz/Targets"),
        .executableTarget(name: "ResinFuzz", dependencies: ["ResinFuzzTargets"], path: "Sources/ResinFuzz/Driver"),

        .target(name: "TestSupport", dependencies: ["Resin"], path: "Tests/TestSupport"),
        .testTarget(name: "ResinIRTests", dependencies: ["ResinIR", "TestSupport"]),
        .testTarget(name: "ResinONNXTests", dependencies: ["ResinONNX", "TestSupport"]),
        // Counts a thread's heap allocations by interposing malloc in the test executable.
        .target(name: "CAllocationCounter", path: "Tests/CAllocationCounter"),
        .testTarget(name: "ResinRuntimeTests", dependencies: ["ResinRuntime", "Resin", "TestSupport", "CAllocationCounter"]),
        .testTarget(name: "ResinFormatTests", dependencies: ["ResinFormat", "TestSupport"]),
        .testTarget(name: "ResinOptimizerTests", dependencies: ["ResinOptimizer", "ResinRuntime", "TestSupport"]),
        // The public API as a user of `import Resin` sees it, and its concurrency.
        .testTarget(name: "ResinTests", dependencies: ["Resin", "TestSupport"], exclude: ["PublicAPI.txt"]),
        .testTarget(name: "ResinCLITests", dependencies: ["TestSupport", "ResinCLI"]),
        .testTarget(name: "ResinServeTests", dependencies: ["ResinServe"]),
        // Decoding and preprocessing against Pillow's and torchvision's references (Fixtures/images), and
        // `resin preprocess`.
        .testTarget(name: "ResinImageTests", dependencies: ["ResinImage", "Resin", "TestSupport", "ResinCLI"]),
        // Every crash the fuzzer found, replayed through the same entry point without sanitizers.
        .testTarget(
            name: "FuzzRegressionTests", dependencies: ["ResinFuzzTargets", "TestSupport"], path: "Tests/FuzzRegressions",
            exclude: ["onnx", "resin", "npy", "pb", "jpeg", "png"]),
    ],
    swiftLanguageModes: [.v6]
)
