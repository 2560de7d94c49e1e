import Foundation
import Testing
@testable import FruitFeatures

/// Every Keras 3 / MobileNetV3 fixture file, from JPEG bytes through the whole path, against tf.keras.
@Suite struct Keras3GoldenTests {
    static let tolerance: Float = 1e-4

    @Test func indexListsEveryFixture() throws {
        let index = try Keras3Goldens.index()
        #expect(index.images.count == 9)
        let formats = Set(index.files.values.map(\.format))
        #expect(formats == ["keras", "keras3-weights", "legacy"])
        let architectures = Set(index.files.values.map(\.architecture))
        #expect(architectures.isSuperset(of: ["MobileNetV2", "MobileNetV3Large", "MobileNetV3Small", "MobileNetV3SmallMinimalistic"]))
    }

    /// JPEG bytes → KerasPreprocessor (Pillow's resize) → the backbone the file holds → ≤ 1e-4 from Keras, at
    /// every kernel level this machine runs.
    @Test(arguments: Keras3Goldens.fileNames)
    func fixtureJPEGsMatchKeras(_ name: String) throws {
        let index = try Keras3Goldens.index()
        let file = try #require(index.files[name])
        let golden = try Keras3Goldens.features(file, images: index.images.count)
        let features = try Keras3Goldens.extractor(for: Keras3Goldens.weightsURL(name))
        let preprocessor = KerasPreprocessor()
        for (path, expected) in zip(index.images, golden) {
            let input = try preprocessor.preprocessFile(atPath: FixturePaths.root.appendingPathComponent(path).path)
            for level in KernelLevel.supported {
                let found = try KernelLevel.withThreadLevel(level) { () throws -> [Float] in try features(input) }
                #expect(found.count == file.feature_count)
                let difference = maxAbsoluteDifference(found, expected)
                #expect(difference <= Self.tolerance, "\(name) at \(level), \(path): max |swift − keras| = \(difference)")
            }
        }
    }

    /// The loader recognises each file's network, widths and variant as the script built them.
    @Test(arguments: Keras3Goldens.fileNames)
    func architectureIsRecognised(_ name: String) throws {
        let file = try #require(try Keras3Goldens.index().files[name])
        let weights = try KerasWeightsFile(contentsOf: Keras3Goldens.weightsURL(name))
        switch file.architecture {
        case "MobileNetV2":
            #expect(try weights.backboneArchitecture() == .mobileNetV2)
            #expect(try weights.mobileNetV2Weights().architecture.alpha == file.alpha)
        default:
            let variant: MobileNetV3Architecture.Variant = file.architecture.contains("Large") ? .large : .small
            let minimalistic = file.architecture.hasSuffix("Minimalistic")
            #expect(try weights.backboneArchitecture() == .mobileNetV3(variant))
            let found = try weights.mobileNetV3Weights()
            #expect(found.architecture == MobileNetV3Architecture(variant, alpha: file.alpha, minimalistic: minimalistic))
            #expect(found.architecture.alpha == file.alpha)
            #expect(found.rescalesInput)
        }
        switch file.format {
        case "keras": #expect(weights.container == .kerasArchive)
        case "keras3-weights": #expect(weights.container == .kerasWeights)
        default: #expect(weights.container == .weights)
        }
    }
}
