import Foundation
@testable import FruitFeatures
import FruitFeaturesServer

/// An extract run of the fixture photos (real extraction with the fixture weights), made once per test process.
enum ServerFixture {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static let weights = root.appendingPathComponent("weights/mobilenet_v2_1.0_224_random.h5")

    /// The bytes of a fixture file (`"images/Apple/0_100.jpg"`).
    static func bytes(_ relative: String) throws -> [UInt8] {
        Array(try Data(contentsOf: root.appendingPathComponent(relative)))
    }

    /// A new path for one test's files, under the test process's scratch root: `fruitfeatures-tests-<pid>` in
    /// the temporary directory, the root FruitFeaturesTests' `TestScratch` uses in the same process and removes
    /// once the process has ended. The root is created if need be; the path itself is not.
    static func scratchPath(_ name: String) throws -> String {
        let root = NSTemporaryDirectory() + "fruitfeatures-tests-\(getpid())"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        return root + "/\(name)-\(UUID().uuidString)"
    }

    /// A run over copies of Fixtures/images; `renaming` gives some label folders other names.
    static func extract(renaming: [String: String] = [:]) async throws -> String {
        let scratch = try scratchPath("server-run")
        let input = scratch + "/photos"
        try FileManager.default.createDirectory(atPath: input, withIntermediateDirectories: true)
        for label in ["Apple", "Banana", "Lemon"] {
            try FileManager.default.copyItem(atPath: root.appendingPathComponent("images/\(label)").path,
                                             toPath: input + "/" + (renaming[label] ?? label))
        }
        var settings = ExtractionSettings()
        settings.components = .count(4)
        settings.jobs = 2
        let pipeline = ExtractionPipeline(
            source: try DirectoryImageSource(root: input, pattern: .jpeg),
            model: try FeatureModelLoader.load(weightsAt: weights.path), weightsPath: weights.path, settings: settings)
        let output = scratch + "/out"
        _ = try await pipeline.run(into: output, input: input, pattern: "*.jpg")
        return output
    }

    private static let sharedRun = Task { try await extract() }

    /// The run of the fixture photos, shared by the tests.
    static func run() async throws -> String { try await sharedRun.value }

    /// A service answering from `directory`.
    static func service(_ directory: String, configure: (inout ServerSettings) -> Void = { _ in }) throws -> RecognitionService {
        var settings = ServerSettings(modelDirectory: directory)
        settings.weights = weights.path
        settings.concurrency = 2
        configure(&settings)
        let model = try ServedModel.open(directory: directory, weights: settings.weights,
                                         neighbourCount: settings.neighbourCount, pixelLimit: settings.maximumPixels)
        return RecognitionService(settings: try settings.validated(), store: ModelStore(model))
    }
}
