import Foundation
import Testing
@testable import FruitFeatures

/// The fast forward pass against ReferenceMobileNetV2 at input sizes and band splits the Keras goldens do not cover.
@Suite struct MobileNetV2ReferenceTests {
    static let tolerance: Float = 1e-4

    static func smallWeights() throws -> MobileNetV2Weights {
        try KerasWeightsFile(contentsOf: WeightFixtures.variant("keras3_legacy_weights.h5")).mobileNetV2Weights()
    }

    @Test func referenceItselfMatchesKeras() throws {
        let index = try KerasGoldens.index()
        let model = try #require(index.models["alpha_0.35"])
        let golden = try KerasGoldens.features(model.inputs, featureCount: model.feature_count)
        let weights = try Self.smallWeights()
        let (name, expected) = try #require(golden.first)
        let features = ReferenceMobileNetV2.features(weights, image: try KerasGoldens.input(name), size: 224)
        let difference = maxAbsoluteDifference(features, expected)
        #expect(difference <= Self.tolerance, "\(name): max |reference − keras| = \(difference)")
    }

    /// Odd and even sizes (both ZeroPadding cases, TensorFlow's 'same' split), band plans from one output row
    /// per band to the whole image in one band, and grouped-stage groups of 1, 2 and 8 images (3 images: a full
    /// group, then a partial one). Every plan, and each image alone, gives the same features bit for bit: no
    /// kernel's rounding depends on how images or rows are grouped, so results never depend on batching.
    @Test(arguments: [32, 33, 45, 57, 70])
    func extractorMatchesReferenceAtOtherInputSizes(_ size: Int) throws {
        let weights = try Self.smallWeights()
        var random = TestRandom(seed: UInt64(size))
        let images = (0..<3).map { _ in random.floats(size * size * 3, -1, 1) }
        let expected = images.map { ReferenceMobileNetV2.features(weights, image: $0, size: size) }
        let alone = try images.map { try MobileNetV2Extractor(weights: weights, inputSize: size).features(of: $0) }
        for budget in [1, 5_000, FoldedMobileNetV2.defaultBandBudget, Int.max / 4] {
            for groupSize in [1, 2, 8] {
                let plan = MobileNetV2Extractor.ExecutionPlan(bandFloats: budget, groupSize: groupSize)
                let extractor = try MobileNetV2Extractor(weights: weights, inputSize: size, plan: plan)
                if budget == 1 { #expect(extractor.rowsPerBand.allSatisfy { $0 == 1 }) }
                let features = try extractor.features(of: images)
                #expect(features == alone, "size \(size), band budget \(budget), group \(groupSize): not bit-identical")
                for (image, (actual, wanted)) in zip(features, expected).enumerated() {
                    let difference = maxAbsoluteDifference(actual, wanted)
                    #expect(difference <= Self.tolerance,
                            "size \(size), band budget \(budget), group \(groupSize), image \(image): \(difference)")
                }
            }
        }
    }

    /// At 224 the first stage ends at 28×28 and the grouped stage starts at 14×14.
    @Test func thePlanAt224GroupsTheLastBlocks() throws {
        let extractor = try MobileNetV2Extractor(weights: try Self.smallWeights())
        #expect(extractor.groupedFrom == 7)
    }

    @Test func inputSizesOutside32To2048AreRefused() throws {
        let weights = try Self.smallWeights()
        for size in [31, 0, -5, 2049] {
            #expect(throws: WeightsError(file: "w.h5", reason: .unsupportedInputSize(size))) {
                try MobileNetV2Extractor(weights: weights, inputSize: size, source: "w.h5")
            }
        }
    }
}
