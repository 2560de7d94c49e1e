// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "FruitFeatures",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "FruitFeatures", targets: ["FruitFeatures"]),
        .executable(name: "fruitfeatures", targets: ["FruitFeaturesCLI"]),
        .executable(name: "fruitfeatures-benchmark", targets: ["FruitFeaturesBenchmark"]),
        // libfruitfeatures_c.so: the C ABI of include/fruitfeatures.h, for Python (python/fruitfeatures) and Spark.
        .library(name: "fruitfeatures_c", type: .dynamic, targets: ["FruitFeaturesC"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // System libraries, found with pkg-config and installed from Debian's -dev packages.
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CLAPACKE", pkgConfig: "lapacke", providers: [.apt(["liblapacke-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        // Page compression for Parquet: Snappy (what Spark writes by default) and Zstandard.
        .systemLibrary(name: "CSnappy", pkgConfig: "snappy", providers: [.apt(["libsnappy-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // Deflated members of `.keras` archives.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        // Tiny C shims: what C needs and Swift cannot say.
        // libjpeg reports errors by longjmp (its default handler exits the process).
        .target(name: "CJPEGDecoder", dependencies: ["CJPEG"]),
        // HDF5's type and property constants are macros that call H5open().
        .target(name: "CHDF5Shim", dependencies: ["CHDF5"]),
        // Innermost SIMD kernels, with per-function target attributes and runtime CPU dispatch.
        .target(name: "CKernels"),

        .target(
            name: "FruitFeatures",
            dependencies: [
                "CJPEGDecoder", "CHDF5Shim", "CHDF5", "COpenBLAS", "CLAPACKE", "CKernels", "CSnappy", "CZstd", "CZlib",
            ]
        ),
        .target(name: "FruitFeaturesC", dependencies: ["FruitFeatures"], exclude: ["include"]),
        .executableTarget(
            name: "FruitFeaturesCLI",
            dependencies: [
                "FruitFeatures",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Speed and memory figures (`swift run -c release fruitfeatures-benchmark extractor`).
        .executableTarget(
            name: "FruitFeaturesBenchmark",
            dependencies: [
                "FruitFeatures",
                "CKernels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "FruitFeaturesTests",
            dependencies: ["FruitFeatures"]
        ),
    ]
)
