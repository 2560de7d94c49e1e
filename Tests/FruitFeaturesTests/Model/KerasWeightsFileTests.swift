import Foundation
import Testing
@testable import FruitFeatures

/// Paths of the weight fixtures made by Scripts/make_keras_fixtures.py.
enum WeightFixtures {
    static let main = FixturePaths.root.appendingPathComponent("weights/mobilenet_v2_1.0_224_random.h5")
    static func variant(_ name: String) -> URL {
        FixturePaths.root.appendingPathComponent("weights/variants/\(name)")
    }
    /// Files holding the same alpha-0.35 backbone in different layouts.
    static let validVariants = [
        "keras2_chunked_attributes.h5",
        "keras3_legacy_weights.h5",
        "keras3_whole_model.h5",
        "classifier_nested_trainable.h5",
        "classifier_nested_frozen_weights.h5",
        "classifier_flat.h5",
    ]
}

@Suite struct KerasWeightsFileTests {
    @Test func architectureWidthsMatchKerasForEveryPublishedAlpha() throws {
        struct Layer: Decodable {
            let layer: String
            let shapes: [[Int]]
        }
        let data = try Data(contentsOf: FixturePaths.root.appendingPathComponent("golden/keras/architecture_shapes.json"))
        let table = try JSONDecoder().decode([String: [Layer]].self, from: data)
        #expect(table.count == MobileNetV2Architecture.publishedAlphas.count)
        for alpha in MobileNetV2Architecture.publishedAlphas {
            let keras = try #require(table[String(alpha)])
            let architecture = MobileNetV2Architecture(alpha: alpha)
            #expect(keras.map(\.layer) == MobileNetV2Architecture.layerNames(), "alpha \(alpha)")
            #expect(keras.map(\.shapes) == architecture.weightShapes, "alpha \(alpha)")
            #expect(architecture.alpha == alpha)
        }
    }

    @Test func theKeras2LayoutFileLoadsByLayerOrder() throws {
        let file = try KerasWeightsFile(contentsOf: WeightFixtures.main)
        // 104 backbone layers with weights, then the top Dense under its old name.
        #expect(file.layers.count == 105)
        #expect(file.layers.first == .init(name: "Conv1", weightNames: ["Conv1/kernel:0"]))
        #expect(file.layers.last?.name == "Logits")
        #expect(file.layers[2].weightNames == ["expanded_conv_depthwise/depthwise_kernel:0"])
        let weights = try file.mobileNetV2Weights()
        #expect(weights.architecture == MobileNetV2Architecture(alpha: 1.0))
        #expect(weights.architecture.alpha == 1.0)
        #expect(weights.layers.count == 52)
        #expect(weights.layers.map(\.name) == MobileNetV2Architecture.layerNames().enumerated()
            .filter { $0.offset % 2 == 0 }.map(\.element))
        for (layer, shapes) in zip(weights.layers, weights.architecture.weightShapes.enumerated().filter { $0.offset % 2 == 0 }) {
            #expect(layer.kernelShape == shapes.element[0])
            #expect(layer.kernel.count == layer.kernelShape.reduce(1, *))
        }
    }

    @Test(arguments: WeightFixtures.validVariants)
    func everyLayoutVariantGivesTheSameAlpha035Backbone(_ name: String) throws {
        let reference = try KerasWeightsFile(contentsOf: WeightFixtures.variant("keras3_legacy_weights.h5")).mobileNetV2Weights()
        let weights = try KerasWeightsFile(contentsOf: WeightFixtures.variant(name)).mobileNetV2Weights()
        #expect(weights.architecture.alpha == 0.35)
        #expect(weights.layers.count == reference.layers.count)
        for (layer, expected) in zip(weights.layers, reference.layers) {
            #expect(layer.name == expected.name)
            #expect(layer.kernelShape == expected.kernelShape)
            #expect(layer.kernel == expected.kernel, "\(name): \(layer.name)")
            #expect(layer.gamma == expected.gamma && layer.beta == expected.beta, "\(name): \(layer.name)")
            #expect(layer.movingMean == expected.movingMean && layer.movingVariance == expected.movingVariance,
                    "\(name): \(layer.name)")
        }
    }

    func loadingError(_ name: String) -> WeightsError? {
        do {
            _ = try KerasWeightsFile(contentsOf: WeightFixtures.variant(name)).mobileNetV2Weights()
            return nil
        } catch {
            return error
        }
    }

    @Test func aFileThatIsNotHDF5IsRefused() throws {
        let error = try #require(loadingError("broken_not_hdf5.h5"))
        guard case .hdf5(let cause) = error.reason else { Issue.record("\(error)"); return }
        #expect(cause.reason == .notHDF5)
        #expect(error.description.contains("broken_not_hdf5.h5"))
    }

    @Test func aTruncatedFileIsRefused() throws {
        let error = try #require(loadingError("broken_truncated.h5"))
        guard case .hdf5 = error.reason else { Issue.record("\(error)"); return }
        #expect(error.description.contains("broken_truncated.h5"))
    }

    @Test func anHDF5FileWithoutKerasWeightsIsRefused() throws {
        let error = try #require(loadingError("broken_no_weights.h5"))
        #expect(error.reason == .noKerasWeights)
        #expect(error.description.contains("broken_no_weights.h5"))
    }

    @Test func aMissingLayerIsNamed() throws {
        let error = try #require(loadingError("broken_missing_layer.h5"))
        // block_5_project is gone, so its BatchNorm arrives where the convolution should be.
        #expect(error.layer == "block_5_project_BN")
        #expect(error.expectedLayer == "block_5_project")
        #expect(error.reason == .weightCount(expected: 1, found: 4))
        #expect(error.description.contains("broken_missing_layer.h5"))
        #expect(error.description.contains("block_5_project"))
    }

    @Test func aWrongShapeIsNamed() throws {
        let error = try #require(loadingError("broken_wrong_shape.h5"))
        #expect(error.layer == "block_3_expand")
        #expect(error.reason == .shape(weight: "block_3_expand/kernel:0", expected: [1, 1, 8, 48], found: [1, 1, 8, 40]))
        #expect(error.description.contains("broken_wrong_shape.h5"))
    }

    @Test func aMissingFileIsRefused() throws {
        let url = URL(fileURLWithPath: "/nonexistent/weights.h5")
        #expect(throws: WeightsError(file: url.path, reason: .hdf5(HDF5Error(file: url.path, object: "/", reason: .fileNotFound)))) {
            try KerasWeightsFile(contentsOf: url)
        }
    }
}
