import Foundation
import Testing
@testable import FruitFeatures

/// `inspect` and `weights` with the Keras 3 formats and MobileNetV3.
@Suite struct Keras3CommandTests {
    /// inspect names the format, the architecture, alpha and the input size the file was built for.
    @Test(arguments: [
        ("mobilenet_v2_0.35.weights.h5", "Keras 3 weights (.weights.h5", "MobileNetV2, alpha 0.35", "not recorded"),
        ("classifier_mobilenet_v2_0.35.keras", "Keras 3 model archive (.keras", "MobileNetV2, alpha 0.35", "224×224 (config.json)"),
        ("mobilenet_v3_large_1.0_legacy.h5", "Keras 3 legacy HDF5, weights only", "MobileNetV3Large, alpha 1.0, 15 inverted-residual blocks, 960 features", "not recorded"),
        ("mobilenet_v3_small_0.75_top.keras", "Keras 3 model archive (.keras", "MobileNetV3Small, alpha 0.75, 11 inverted-residual blocks, 432 features", "224×224 (config.json)"),
        ("mobilenet_v3_small_minimalistic_0.75_legacy.h5", "Keras 3 legacy HDF5", "MobileNetV3Small (minimalistic), alpha 0.75", "not recorded"),
    ])
    func inspectNamesFormatArchitectureAndInputSize(_ file: String, _ layout: String, _ model: String, _ size: String) throws {
        let path = Keras3Goldens.weightsURL(file).path
        let result = try CommandRunner.run(["inspect", path])
        #expect(result.status == 0, "\(result.standardError)")
        let lines = result.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.count > 8)
        #expect(lines[1].hasPrefix("Layout:    " + layout), "\(lines[1])")
        #expect(lines[2].hasPrefix("Model:     " + model), "\(lines[2])")
        #expect(lines.last?.hasPrefix("Input size the file was built for: " + size) == true, "\(lines.last ?? "")")
        if file.hasPrefix("classifier") { #expect(lines[1].contains("nested in layer 'mobilenetv2_0.35_224'")) }
    }

    /// MobileNetV3's parameter count from inspect equals Keras's (the widths MobileNetV3Architecture derives).
    @Test func inspectCountsMobileNetV3Parameters() throws {
        let result = try CommandRunner.run(["inspect", Keras3Goldens.weightsURL("mobilenet_v3_large_1.0_legacy.h5").path])
        let printed = try #require(result.standardOutput.split(separator: "\n").first { $0.hasPrefix("Backbone parameters: ") })
        let digits = printed.dropFirst("Backbone parameters: ".count).prefix { $0 != " " }.filter(\.isNumber)
        let expected = MobileNetV3Architecture(.large).weightShapes.joined().map { $0.reduce(1, *) }.reduce(0, +)
        #expect(Int(digits) == expected)
        // Keras's MobileNetV3Large(include_top=False): 2,996,352 parameters.
        #expect(expected == 2_996_352)
    }

    @Test func brokenArchivesFailWithOneLineNamingTheFile() throws {
        for name in ["broken_not_zip.keras", "broken_zip_bomb.keras", "broken_size_lies.keras", "broken_no_weights.keras"] {
            let result = try CommandRunner.run(["inspect", Keras3Goldens.weightsURL(name).path])
            #expect(result.status == 1)
            #expect(result.standardError.hasPrefix("fruitfeatures: error: "))
            #expect(result.standardError.contains(name))
        }
    }

    @Test func weightsKnowEachArchitecturesKerasFile() throws {
        #expect(KerasApplicationsModel.mobileNetV3Large.url.absoluteString
            == "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/weights_mobilenet_v3_large_224_1.0_float.h5")
        #expect(KerasApplicationsModel.mobileNetV2.fileName == WeightsLocation.kerasFileName)
        let home = try makeScratchFolder()
        let missing = try CommandRunner.run(["weights", "locate", "--model", "mobilenet_v3_small"], environment: ["HOME": home])
        #expect(missing.status == 1)
        #expect(missing.standardError.contains("weights_mobilenet_v3_small_224_1.0_float.h5"))
        #expect(missing.standardError.contains("--model mobilenet_v3_small"))
        let cache = home + "/.keras/models/weights_mobilenet_v3_small_224_1.0_float.h5"
        try FileManager.default.createDirectory(atPath: home + "/.keras/models", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Keras3Goldens.weightsURL("mobilenet_v3_small_1.0_legacy.h5").path, toPath: cache)
        let found = try CommandRunner.run(["weights", "locate", "--model", "mobilenet_v3_small"], environment: ["HOME": home])
        #expect(found.standardOutput == cache + "\n", "\(found.standardError)")
        let unknown = try CommandRunner.run(["weights", "locate", "--model", "resnet50"])
        #expect(unknown.status == 64)
    }

    /// extract with a MobileNetV3 file (and another input size): the run records the backbone in summary.json,
    /// and transform uses the same backbone through the run.
    @Test func extractAndTransformRunOnMobileNetV3() throws {
        let images = FixturePaths.root.appendingPathComponent("images").path
        let weights = Keras3Goldens.weightsURL("mobilenet_v3_small_1.0_legacy.h5").path
        for (size, arguments) in [(224, [String]()), (160, ["--input-size", "160"])] {
            let out = try makeScratchFolder() + "/run"
            let result = try CommandRunner.run(["extract", images, "--output", out, "--weights", weights, "--no-progress"] + arguments)
            #expect(result.status == 0, "\(result.standardError)")
            let summary = try #require(try ExtractionRun(directory: URL(fileURLWithPath: out)).readSummary())
            let identity = try #require(summary.featureModel)
            #expect(identity.architecture == "mobilenet_v3_small")
            #expect(identity.alpha == 1.0)
            #expect(identity.featureCount == 576)
            #expect(identity.inputSize == size)
            #expect(identity.preprocessing == "keras_mobilenet_v3")
            if size == 224 {
                let photo = FixturePaths.root.appendingPathComponent("images/Apple/0_100.jpg").path
                let transformed = try CommandRunner.run(["transform", photo, "--model", out])
                #expect(transformed.status == 0, "\(transformed.standardError)")
            }
        }
        let bad = try CommandRunner.run(["extract", images, "--output", try makeScratchFolder() + "/r", "--weights", weights,
                                         "--input-size", "8", "--no-progress"])
        #expect(bad.status == 1)
        #expect(bad.standardError.contains("input size 8"))
    }
}
