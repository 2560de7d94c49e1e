import Foundation
@testable import FruitFeatures

/// The fixtures and goldens written by Scripts/make_keras3_fixtures.py (see Fixtures/golden/keras3/index.json).
enum Keras3Goldens {
    struct Index: Decodable {
        struct File: Decodable {
            let weights: String
            let format: String
            let architecture: String
            let alpha: Double
            let model: String
            let feature_count: Int
            let features: String
        }
        struct Broken: Decodable {
            let file: String
        }
        let images: [String]
        let files: [String: File]
        let broken: [String: Broken]
    }

    static let directory = FixturePaths.root.appendingPathComponent("golden/keras3")
    static let weights = FixturePaths.root.appendingPathComponent("weights/keras3")

    static func index() throws -> Index {
        try JSONDecoder().decode(Index.self, from: Data(contentsOf: directory.appendingPathComponent("index.json")))
    }

    /// The fixture file names, for parameterized tests (empty when the index cannot be read, which the
    /// `indexListsEveryFixture` test reports).
    static let fileNames: [String] = ((try? index())?.files.keys.sorted()) ?? []

    static func weightsURL(_ name: String) -> URL { weights.appendingPathComponent(name) }

    /// Rows of features (one per image of `index.images`).
    static func features(_ file: Index.File, images: Int) throws -> [[Float]] {
        let values = try KerasGoldens.float32s("../keras3/" + file.features)
        return (0..<images).map { Array(values[($0 * file.feature_count)..<(($0 + 1) * file.feature_count)]) }
    }

    /// Features of one preprocessed image from whichever backbone the file holds.
    static func extractor(for url: URL) throws -> ([Float]) throws -> [Float] {
        switch try KerasWeightsFile(contentsOf: url).backboneArchitecture() {
        case .mobileNetV2:
            let extractor = try MobileNetV2Extractor(weightsAt: url)
            return { try extractor.features(of: $0) }
        case .mobileNetV3:
            let extractor = try MobileNetV3Extractor(weightsAt: url)
            return { try extractor.features(of: $0) }
        }
    }
}
