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

    /// A run over copies of Fixtures/images; `renaming` gives some label folders other names.
    static func extract(renaming: [String: String] = [:]) async throws -> String {
        let scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("ff-server-\(UUID().uuidString)").path
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
            source: try DirectoryImageSource(root: input, pattern: .jpeg), preprocessor: KerasPreprocessor(),
            extractor: try MobileNetV2Extractor(weightsAt: weights), weightsPath: weights.path, settings: settings)
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
