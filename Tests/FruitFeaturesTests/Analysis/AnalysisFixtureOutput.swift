import Foundation
@testable import FruitFeatures

/// Output folders like the extract command's, made in the tests from Fixtures/images with the fixture weights
/// (random MobileNetV2 weights: features are deterministic but carry no ImageNet meaning).
enum AnalysisFixture {
    static let weights = FixturePaths.root.appendingPathComponent("weights/mobilenet_v2_1.0_224_random.h5")
    static let nearCopies = FixturePaths.root.appendingPathComponent("analysis/near_copies")
    static let golden = FixturePaths.root.appendingPathComponent("golden/analysis")

    /// The fixture photos, sorted by path, with their labels (parent folder names).
    static let photos: [(path: String, label: String)] = {
        let root = FixturePaths.root.appendingPathComponent("images")
        let labels = ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []).sorted()
        return labels.flatMap { label in
            let folder = root.appendingPathComponent(label)
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasSuffix(".jpg") }.sorted()
            return names.map { (folder.appendingPathComponent($0).path, label) }
        }
    }()

    private static let loaded: Result<(MobileNetV2Extractor, [[Float]]), any Error> = Result {
        let extractor = try MobileNetV2Extractor(weightsAt: weights)
        let preprocessor = KerasPreprocessor()
        let inputs = try photos.map { try preprocessor.preprocessFile(atPath: $0.path) }
        return (extractor, try extractor.features(of: inputs))
    }

    /// The extractor on the fixture weights.
    static func extractor() throws -> MobileNetV2Extractor { try loaded.get().0 }

    /// The 1280 raw features of each fixture photo, in ``photos`` order.
    static func rawFeatures() throws -> [[Float]] { try loaded.get().1 }

    /// Writes features.csv, pca.h5, summary.json and errors.csv for the fixture photos (all, or the rows given)
    /// with a PCA of `componentCount` components fitted on them; returns the folder.
    @discardableResult
    static func makeOutputDirectory(
        componentCount: Int = 4, rows: [Int]? = nil, in folder: String? = nil, summaryWeights: String? = nil
    ) throws -> URL {
        let directory = URL(fileURLWithPath: try folder ?? makeScratchFolder("ff-analysis"))
        let raw = try rawFeatures()
        let rows = rows ?? Array(photos.indices)
        let flat = rows.flatMap { raw[$0] }
        let pca = try LAPACKPCA(components: .count(componentCount)).fit(flat, rowCount: rows.count, dimension: 1280)
        try pca.write(to: directory.appendingPathComponent("pca.h5"))
        let projected = try pca.project(flat, rowCount: rows.count)
        let writer = try CSVResultWriter(destination: directory.appendingPathComponent("features.csv").path, featureCount: componentCount)
        try writer.write(rows.enumerated().map { index, row in
            FeatureRow(path: photos[row].path, label: photos[row].label,
                       features: Array(projected[(index * componentCount)..<((index + 1) * componentCount)]))
        })
        try writer.finish()
        let errorsCSV = "path,reason\n\(FixturePaths.root.path)/resize/bad/empty.jpg,empty file\n\"odd, name.jpg\",\"not a JPEG file (PNG data)\"\n"
        try errorsCSV.write(to: directory.appendingPathComponent("errors.csv"), atomically: true, encoding: .utf8)
        let summary: [String: Any] = [
            "version": fruitFeaturesVersion,
            "images": ["found": rows.count + 2, "processed": rows.count, "failed": 2],
            "images_per_second": 42.5,
            "weights": ["path": summaryWeights ?? weights.path, "sha256": "not-checked-here"],
            "explained_variance": ["total": pca.explainedVarianceRatio.reduce(0, +), "per_component": pca.explainedVarianceRatio],
            "settings": ["components": componentCount, "format": "parquet,csv", "glob": "*.jpg", "centred": true],
            "seconds": ["decode": 0.12, "extract": 1.5, "pca": 0.01, "write": 0.02],
        ]
        let data = try JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: directory.appendingPathComponent("summary.json"))
        return directory
    }
}
