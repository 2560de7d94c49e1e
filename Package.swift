// swift-tools-version: 6.1
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
        // The HTTP recognition service (`fruitfeatures-server`; Docs/serve.md). Its own product so that the
        // library and `fruitfeatures` build without Hummingbird and SwiftNIO.
        .library(name: "FruitFeaturesServer", targets: ["FruitFeaturesServer"]),
        .executable(name: "fruitfeatures-server", targets: ["FruitFeaturesServerCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // System calls with typed errors (FileDescriptor, Errno, FilePath).
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        // SHA-256 of weights files; either major version, so a host service on 3.x or 4.x resolves.
        .package(url: "https://github.com/apple/swift-crypto", "3.0.0"..<"5.0.0"),
        // The server only. Hummingbird without its default traits (swift-configuration support, full Foundation).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0", traits: []),
        .package(url: "https://github.com/vapor/multipart-kit", from: "4.7.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
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
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Crypto", package: "swift-crypto"),
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
        // The HTTP service: routes, limits, metrics (never bootstraps LoggingSystem or MetricsSystem).
        .target(
            name: "FruitFeaturesServer",
            dependencies: [
                "FruitFeatures",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "MultipartKit", package: "multipart-kit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // `fruitfeatures-server`: parses the options, bootstraps logging and metrics, runs the service.
        .executableTarget(
            name: "FruitFeaturesServerCLI",
            dependencies: [
                "FruitFeaturesServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
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
        .testTarget(
            name: "FruitFeaturesServerTests",
            dependencies: ["FruitFeaturesServer", .product(name: "HummingbirdTesting", package: "hummingbird")]
        ),
    ]
)
