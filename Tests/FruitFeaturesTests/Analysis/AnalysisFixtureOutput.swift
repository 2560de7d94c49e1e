import Foundation
@testable import FruitFeatures

/// Output folders made by the real extraction (``ExtractionPipeline``, as `fruitfeatures extract` runs it) from
/// copies of Fixtures/images with the fixture weights (random MobileNetV2 weights: features are deterministic but
/// carry no ImageNet meaning).
enum AnalysisFixture {
    static let weights = FixturePaths.root.appendingPathComponent("weights/mobilenet_v2_1.0_224_random.h5")
    static let nearCopies = FixturePaths.root.appendingPathComponent("analysis/near_copies")
    static let golden = FixturePaths.root.appendingPathComponent("golden/analysis")
    static let labels = ["Apple", "Banana", "Lemon"]

    /// An extraction's output folder and the input tree it was made from.
    struct Extraction {
        /// The output folder.
        var directory: URL
        /// The photos with features, sorted by path, with their labels.
        var photos: [(path: String, label: String)]
        /// The files that could not be used.
        var badFiles: [String]

        /// The path of a fixture photo (`"Apple/0_100.jpg"`) in this extraction's input tree.
        func photo(_ relative: String) -> String? {
            photos.first { $0.path.hasSuffix("/" + relative) }?.path
        }
    }

    private static let model: Result<any FeatureModel, any Error> = Result {
        try FeatureModelLoader.load(weightsAt: weights.path)
    }

    /// Copies Fixtures/images (less `excluding`, plus two files that are not usable JPEGs) into a scratch tree and
    /// extracts it with `componentCount` PCA components.
    static func extract(componentCount: Int = 4, excluding: Set<String> = []) async throws -> Extraction {
        let scratch = try makeScratchFolder("ff-analysis")
        let input = scratch + "/photos"
        try FileManager.default.copyItem(atPath: FixturePaths.root.appendingPathComponent("images").path, toPath: input)
        for relative in excluding { try FileManager.default.removeItem(atPath: input + "/" + relative) }
        let bad = [input + "/Lemon/not_a_jpeg.jpg", input + "/Banana/empty.jpg"]
        try FileManager.default.copyItem(atPath: FixturePaths.root.appendingPathComponent("resize/bad/png_named.jpg").path, toPath: bad[0])
        try FileManager.default.copyItem(atPath: FixturePaths.root.appendingPathComponent("resize/bad/empty.jpg").path, toPath: bad[1])

        var settings = ExtractionSettings()
        settings.components = .count(componentCount)
        settings.jobs = 2
        let pipeline = ExtractionPipeline(
            source: try DirectoryImageSource(root: input, pattern: .jpeg), model: try model.get(),
            weightsPath: weights.path, settings: settings)
        let output = scratch + "/out"
        _ = try await pipeline.run(into: output, input: input, pattern: "*.jpg")

        let photos = labels.flatMap { label in
            ((try? FileManager.default.contentsOfDirectory(atPath: input + "/" + label)) ?? [])
                .filter { !bad.contains(input + "/" + label + "/" + $0) }.sorted()
                .map { (path: input + "/" + label + "/" + $0, label: label) }
        }
        return Extraction(directory: URL(fileURLWithPath: output), photos: photos, badFiles: bad)
    }

    /// Rewrites one field of an extraction's summary.json (a dotted key path), as if the run had recorded another value.
    static func editSummary(_ directory: URL, _ keyPath: [String], to value: Any) throws {
        let url = try ExtractionRun(directory: directory).summaryFile
        var root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] ?? [:]
        func set(_ object: inout [String: Any], _ path: ArraySlice<String>) {
            guard let key = path.first else { return }
            if path.count == 1 {
                object[key] = value
            } else {
                var child = object[key] as? [String: Any] ?? [:]
                set(&child, path.dropFirst())
                object[key] = child
            }
        }
        set(&root, keyPath[...])
        try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys]).write(to: url)
    }
}
