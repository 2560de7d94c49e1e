import CKernels
import Foundation
import Testing
@testable import FruitFeatures

/// The fast MobileNetV3 path (folded BatchNorms, CKernels, every kernel level, every group size) against ReferenceMobileNetV3, and the
/// reference itself against Keras.
@Suite struct MobileNetV3ReferenceTests {
    struct Case: CustomStringConvertible, Sendable {
        let variant: MobileNetV3Architecture.Variant
        let alpha: Double
        let minimalistic: Bool
        let size: Int
        var description: String { "\(variant) alpha \(alpha)\(minimalistic ? " minimalistic" : "") at \(size)" }
    }

    /// Odd and even sizes: every stride-2 padding case of both kernel sizes, and 1×1 late feature maps.
    static let cases: [Case] = [
        .init(variant: .large, alpha: 1.0, minimalistic: false, size: 32),
        .init(variant: .large, alpha: 0.75, minimalistic: false, size: 45),
        .init(variant: .small, alpha: 1.0, minimalistic: false, size: 57),
        .init(variant: .small, alpha: 0.75, minimalistic: false, size: 33),
        .init(variant: .large, alpha: 1.0, minimalistic: true, size: 37),
        .init(variant: .small, alpha: 1.0, minimalistic: true, size: 64),
    ]

    /// A random [0, 255] image and the same image as the extractor takes it (KerasPreprocessor's scaling).
    static func image(size: Int, seed: UInt64) -> (raw: [Float], preprocessed: [Float]) {
        var random = SeededGenerator(seed: seed)
        let bytes = (0..<(size * size * 3)).map { _ in UInt8.random(in: 0...255, using: &random) }
        return (bytes.map { Float($0) }, bytes.map { KerasPreprocessor.scale($0) })
    }

    @Test(arguments: cases)
    func extractorMatchesReference(_ test: Case) throws {
        let architecture = MobileNetV3Architecture(test.variant, alpha: test.alpha, minimalistic: test.minimalistic)
        let (raw, preprocessed) = Self.image(size: test.size, seed: 7)
        let weights = ReferenceMobileNetV3.calibrated(
            ReferenceMobileNetV3.randomWeights(architecture, seed: UInt64(test.size)), image: raw, size: test.size)
        let extractor = try MobileNetV3Extractor(weights: weights, inputSize: test.size)
        #expect(extractor.featureCount == architecture.lastChannels)
        let expected = ReferenceMobileNetV3.features(weights, image: raw, size: test.size)
        let scale = max(1, expected.map(abs).max() ?? 0)
        let spread = (expected.max() ?? 0) - (expected.min() ?? 0)
        #expect(spread > 1e-3, "the random network lost the image: features all equal")
        // Two more images, so groups of 1, 2 and 8 split the batch differently.
        let others = [Self.image(size: test.size, seed: 8).preprocessed, Self.image(size: test.size, seed: 9).preprocessed]
        for level in KernelLevel.supported {
            try KernelLevel.withThreadLevel(level) { () throws -> Void in
                let features = try extractor.features(of: preprocessed)
                let difference = maxAbsoluteDifference(features, expected)
                #expect(difference <= 1e-4 * scale, "\(test) \(level): max |fast − reference| = \(difference)")
                let alone = try ([preprocessed] + others).map { try extractor.features(of: $0) }
                for groupSize in [1, 2, 8] {
                    let grouped = try MobileNetV3Extractor(weights: weights, inputSize: test.size, groupSize: groupSize)
                    #expect(try grouped.features(of: [preprocessed] + others) == alone,
                            "\(test) \(level), groups of \(groupSize): not bit-identical to one image per call")
                }
            }
        }
    }

    /// A model saved without its Rescaling layer takes [-1, 1] values (Keras's documentation): the same input.
    @Test func aModelWithoutRescalingTakesTheScaledValues() throws {
        let architecture = MobileNetV3Architecture(.small, alpha: 0.75)
        let (raw, preprocessed) = Self.image(size: 40, seed: 11)
        let weights = ReferenceMobileNetV3.calibrated(
            ReferenceMobileNetV3.randomWeights(architecture, seed: 3, rescalesInput: false), image: preprocessed, size: 40)
        let extractor = try MobileNetV3Extractor(weights: weights, inputSize: 40)
        #expect(!extractor.rescalesInput)
        #expect(raw.count == preprocessed.count)
        let expected = ReferenceMobileNetV3.features(weights, image: preprocessed, size: 40)
        let difference = maxAbsoluteDifference(try extractor.features(of: preprocessed), expected)
        #expect(difference <= 1e-4 * max(1, expected.map(abs).max() ?? 0), "max |fast − reference| = \(difference)")
    }

    /// Features of an image do not depend on the batch it shares, and buffers of the wrong size are refused.
    @Test func batchesAndBufferChecks() throws {
        let architecture = MobileNetV3Architecture(.small, alpha: 1.0)
        let extractor = try MobileNetV3Extractor(weights: ReferenceMobileNetV3.randomWeights(architecture, seed: 5), inputSize: 48)
        let images = (0..<3).map { Self.image(size: 48, seed: UInt64(20 + $0)).preprocessed }
        let together = try extractor.features(of: images)
        for (index, image) in images.enumerated() {
            #expect(try extractor.features(of: image) == together[index])
        }
        #expect(throws: FeatureExtractionError.self) { try extractor.features(of: [Float](repeating: 0, count: 10)) }
        #expect(throws: WeightsError.self) {
            try MobileNetV3Extractor(weights: ReferenceMobileNetV3.randomWeights(architecture, seed: 5), inputSize: 16)
        }
    }

    /// Keras's widths for both variants and both published alphas, and the layer names of its files.
    @Test func architectureFollowsKeras() {
        let large = MobileNetV3Architecture(.large)
        #expect(large.lastChannels == 960)
        #expect(large.blocks.map(\.outputChannels) == [16, 24, 24, 40, 40, 40, 80, 80, 80, 80, 112, 112, 160, 160, 160])
        #expect(large.blocks.map(\.expandedChannels) == [16, 64, 72, 72, 120, 120, 240, 200, 184, 184, 480, 672, 672, 960, 960])
        #expect(large.blocks.map(\.kernelSize) == [3, 3, 3, 5, 5, 5, 3, 3, 3, 3, 3, 3, 5, 5, 5])
        #expect(large.blocks.compactMap(\.squeezeChannels) == [24, 32, 32, 120, 168, 168, 240, 240])
        let small = MobileNetV3Architecture(.small)
        #expect(small.lastChannels == 576)
        #expect(small.blocks.map(\.expandedChannels) == [16, 72, 88, 96, 240, 240, 120, 144, 288, 576, 576])
        #expect(small.blocks.first?.squeezeChannels == 8)
        #expect(MobileNetV3Architecture(.large, alpha: 0.75).lastChannels == 720)
        #expect(MobileNetV3Architecture(.small, alpha: 0.75).lastChannels == 432)
        #expect(MobileNetV3Architecture(.small, alpha: 0.75).alpha == 0.75)
        let minimalistic = MobileNetV3Architecture(.large, minimalistic: true)
        #expect(minimalistic.blocks.allSatisfy { $0.kernelSize == 3 && $0.squeezeChannels == nil && $0.activation == .relu })
        #expect(large.layerNames.prefix(6) == ["conv", "conv_bn", "expanded_conv_depthwise", "expanded_conv_depthwise_bn",
                                               "expanded_conv_project", "expanded_conv_project_bn"])
        #expect(large.layerNames.count == large.weightShapes.count)
    }
}

