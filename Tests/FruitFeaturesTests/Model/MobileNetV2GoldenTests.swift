import Foundation
import Testing
@testable import FruitFeatures

/// The extractor against the features tf.keras computed for the same weights and inputs.
@Suite struct MobileNetV2GoldenTests {
    static let tolerance: Float = 1e-4

    @Test func alpha10FeaturesOfPreprocessedTensorsMatchKeras() throws {
        let index = try KerasGoldens.index()
        let model = try #require(index.models["alpha_1.0"])
        let extractor = try MobileNetV2Extractor(weightsAt: WeightFixtures.main)
        #expect(extractor.featureCount == 1280)
        #expect(extractor.inputSize == 224)
        let golden = try KerasGoldens.features(model.inputs, featureCount: model.feature_count)
        #expect(golden.count == 2)
        let inputs = try golden.map { name, _ in try KerasGoldens.input(name) }
        // Batch API, both images in one call.
        let flat = inputs.flatMap { $0 }
        var output = [Float](repeating: .nan, count: golden.count * 1280)
        try flat.withUnsafeBufferPointer { input in
            try output.withUnsafeMutableBufferPointer { output in
                try extractor.features(batch: input, count: golden.count, into: output)
            }
        }
        for (row, (name, expected)) in golden.enumerated() {
            let actual = Array(output[(row * 1280)..<((row + 1) * 1280)])
            let difference = maxAbsoluteDifference(actual, expected)
            #expect(difference <= Self.tolerance, "\(name): max |swift − keras| = \(difference)")
        }
        // The array API agrees with the batch API exactly.
        let arrays = try extractor.features(of: inputs)
        #expect(arrays.flatMap { $0 } == output)
    }
}
