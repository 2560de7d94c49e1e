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

    @Test(arguments: WeightFixtures.validVariants)
    func everyWeightsLayoutGivesKerasFeatures(_ variant: String) throws {
        let index = try KerasGoldens.index()
        let model = try #require(index.models["alpha_0.35"])
        let extractor = try MobileNetV2Extractor(weightsAt: WeightFixtures.variant(variant))
        #expect(extractor.architecture.alpha == 0.35)
        #expect(extractor.featureCount == 1280)
        for (name, expected) in try KerasGoldens.features(model.inputs, featureCount: model.feature_count) {
            let features = try extractor.features(of: try KerasGoldens.input(name))
            let difference = maxAbsoluteDifference(features, expected)
            #expect(difference <= Self.tolerance, "\(variant), \(name): max |swift − keras| = \(difference)")
        }
    }

    /// The whole path: JPEG bytes → KerasPreprocessor (Pillow's resize, img_to_array, preprocess_input) → features.
    @Test func fixtureJPEGsThroughThePreprocessorMatchKeras() throws {
        let index = try KerasGoldens.index()
        let model = try #require(index.models["alpha_1.0"])
        let images = try #require(model.images)
        let golden = try KerasGoldens.features(images, featureCount: model.feature_count)
        #expect(golden.count >= 9)
        let extractor = try MobileNetV2Extractor(weightsAt: WeightFixtures.main)
        let preprocessor = KerasPreprocessor()
        for (path, expected) in golden {
            let input = try preprocessor.preprocessFile(atPath: FixturePaths.root.appendingPathComponent(path).path)
            let features = try extractor.features(of: input)
            let difference = maxAbsoluteDifference(features, expected)
            #expect(difference <= Self.tolerance, "\(path): max |swift − keras| = \(difference)")
        }
    }

    /// One extractor shared by several tasks at once gives each exactly what it gives alone.
    @Test func concurrentCallsGiveTheSameFeatures() async throws {
        let extractor = try MobileNetV2Extractor(weightsAt: WeightFixtures.variant("keras3_legacy_weights.h5"))
        var random = TestRandom(seed: 99)
        let images = (0..<6).map { _ in random.floats(extractor.inputCount, -1, 1) }
        let alone = try extractor.features(of: images)
        let together = try await withThrowingTaskGroup(of: [[Float]].self) { group in
            for _ in 0..<4 {
                group.addTask { try extractor.features(of: images) }
            }
            var results: [[[Float]]] = []
            for try await features in group { results.append(features) }
            return results
        }
        #expect(together.count == 4)
        for result in together {
            let same = result == alone
            #expect(same, "max difference \(maxAbsoluteDifference(result.flatMap { $0 }, alone.flatMap { $0 }))")
        }
    }

    /// Which images share a group (and where) changes rounding only: results agree within the tolerance.
    @Test func featuresDoNotDependOnBatchComposition() throws {
        let extractor = try MobileNetV2Extractor(weightsAt: WeightFixtures.variant("keras3_legacy_weights.h5"))
        var random = TestRandom(seed: 5)
        let images = (0..<9).map { _ in random.floats(extractor.inputCount, -1, 1) }
        let batched = try extractor.features(of: images)
        let reversed = try extractor.features(of: images.reversed())
        for (index, image) in images.enumerated() {
            let alone = try extractor.features(of: image)
            let inBatch = maxAbsoluteDifference(alone, batched[index])
            let inReversed = maxAbsoluteDifference(alone, reversed[images.count - 1 - index])
            #expect(inBatch <= Self.tolerance && inReversed <= Self.tolerance, "image \(index): \(inBatch), \(inReversed)")
        }
    }

    @Test func buffersOfTheWrongSizeAreRefused() throws {
        let extractor = try MobileNetV2Extractor(weightsAt: WeightFixtures.variant("keras3_legacy_weights.h5"))
        let input = [Float](repeating: 0, count: extractor.inputCount * 2)
        var output = [Float](repeating: 0, count: extractor.featureCount * 2)
        #expect(throws: FeatureExtractionError(buffer: .input, expected: extractor.inputCount * 3, actual: input.count)) {
            try input.withUnsafeBufferPointer { input in
                try output.withUnsafeMutableBufferPointer { output in
                    try extractor.features(batch: input, count: 3, into: output)
                }
            }
        }
        #expect(throws: FeatureExtractionError(buffer: .output, expected: extractor.featureCount * 2, actual: 1280)) {
            try input.withUnsafeBufferPointer { input in
                try output.withUnsafeMutableBufferPointer { output in
                    try extractor.features(batch: input, count: 2, into: UnsafeMutableBufferPointer(rebasing: output[0..<1280]))
                }
            }
        }
        #expect(throws: FeatureExtractionError(buffer: .input, expected: extractor.inputCount, actual: 5)) {
            try extractor.features(of: [Float](repeating: 0, count: 5))
        }
    }
}
