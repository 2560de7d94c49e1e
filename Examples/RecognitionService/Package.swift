// swift-tools-version: 6.1
// An example of a Swift service embedding FruitFeatures: public API only, no HTTP dependency.
// Built and run by Scripts/test.sh on the bundled sample (see the DocC article "Embedding FruitFeatures
// in a service").
import PackageDescription

let package = Package(
    name: "RecognitionService",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "FruitFeatures", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "RecognitionService",
            dependencies: [.product(name: "FruitFeatures", package: "FruitFeatures")]
        ),
    ]
)
