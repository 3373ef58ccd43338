// swift-tools-version:6.0
// An app that embeds Resin the way users do: a package that depends on it by path.
import PackageDescription

let package = Package(
    name: "Classify",
    dependencies: [
        .package(name: "Resin", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "classify",
            dependencies: [.product(name: "Resin", package: "Resin")],
            path: "Sources/Classify"),
    ],
    swiftLanguageModes: [.v6]
)
