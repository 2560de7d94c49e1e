import Foundation
import Testing
@testable import FruitFeatures
#if canImport(Glibc)
import Glibc
#endif

/// pca.h5 records the feature model it was fitted on (Docs/model.md §6), and a run whose pca.h5 and summary.json
/// disagree is refused.
@Suite struct AnalysisPCAFeatureModelTests {
    static func identity(featureCount: Int, architecture: String = "mobilenet_v3_large", alpha: Double? = 0.75)
        -> FeatureModelIdentity {
        FeatureModelIdentity(
            architecture: architecture, alpha: alpha, inputSize: 160, preprocessing: "keras_mobilenet_v3",
            featureCount: featureCount, weightsSHA256: String(repeating: "0123456789abcdef", count: 4), kernelLevel: "avx2")
    }

    static func fitted() throws -> PCAModel {
        let golden = try PCAGolden.load("lowrank")
        return try LAPACKPCA(components: .count(golden.k), centring: .centred)
            .fit(golden.data, rowCount: golden.rows, dimension: golden.columns)
    }

    @Test(arguments: [0.75 as Double?, nil])
    func theFeatureModelRoundTrips(alpha: Double?) throws {
        var model = try Self.fitted()
        model.featureModel = Self.identity(featureCount: model.dimension, alpha: alpha)
        let url = URL(fileURLWithPath: try makeScratchFolder("ff-pca-identity") + "/pca.h5")
        try model.write(to: url)
        let loaded = try PCAModel(contentsOf: url)
        #expect(loaded == model)
        #expect(loaded.featureModel == model.featureModel)
        // Under the documented names, readable by any HDF5 tool.
        let root = try HDF5File(readingFrom: url).root
        #expect(try root.stringAttribute("feature_model_architecture") == "mobilenet_v3_large")
        #expect(try root.hasAttribute("feature_model_alpha") == (alpha != nil))
        #expect(try root.integerAttribute("feature_model_input_size") == 160)
        #expect(try root.stringAttribute("feature_model_preprocessing") == "keras_mobilenet_v3")
        #expect(try root.integerAttribute("feature_model_feature_count") == Int64(model.dimension))
        #expect(try root.stringAttribute("feature_model_weights_sha256") == model.featureModel?.weightsSHA256)
        #expect(try root.stringAttribute("feature_model_kernel_level") == "avx2")

        // A model that knows nothing of its features writes none of the attributes and reads back the same.
        var bare = model
        bare.featureModel = nil
        let bareURL = url.deletingLastPathComponent().appendingPathComponent("bare.h5")
        try bare.write(to: bareURL)
        #expect(try PCAModel(contentsOf: bareURL).featureModel == nil)
        #expect(try HDF5File(readingFrom: bareURL).root.attributeNames().filter { $0.hasPrefix("feature_model") } == [])
    }

    @Test func attributesOutOfRangeAreRefusedByName() throws {
        let model = try Self.fitted()
        let directory = try makeScratchFolder("ff-pca-identity")
        let edits: [(String, (HDF5Group) throws -> Void, String)] = [
            // Unedited, the hand-written file loads: each refusal below is for its stated reason only.
            ("control", { _ in }, ""),
            ("feature_model_feature_count", { try $0.setAttribute("feature_model_feature_count", to: 5000) },
             "attribute feature_model_feature_count is 5000, but the PCA takes \(model.dimension) features"),
            ("feature_model_input_size", { try $0.setAttribute("feature_model_input_size", to: 1 << 40) },
             "attribute feature_model_input_size is 1099511627776, not in 32…2048"),
            ("feature_model_alpha", { try $0.setAttribute("feature_model_alpha", to: 1e300) },
             "attribute feature_model_alpha is 1e+300, not a width multiplier"),
            ("feature_model_weights_sha256", { try $0.setAttribute("feature_model_weights_sha256", to: "x") },
             "attribute feature_model_weights_sha256 is not a SHA-256"),
            ("feature_model_architecture", { try $0.setAttribute("feature_model_architecture", to: String(repeating: "a", count: 500)) },
             "attribute feature_model_architecture is not a name"),
        ]
        let identity = Self.identity(featureCount: model.dimension)
        for (name, edit, words) in edits {
            let url = URL(fileURLWithPath: directory + "/\(name).h5")
            // Written by hand as write(to:) writes it, then one attribute replaced.
            try writePCAFileByHand(model, featureModel: identity, to: url, edit: edit)
            if words.isEmpty {
                #expect(try PCAModel(contentsOf: url).featureModel == identity)
                continue
            }
            #expect {
                try PCAModel(contentsOf: url)
            } throws: { error in
                guard case .invalidModel(let reason)? = error as? PCAError else { return false }
                return reason.contains(words) && reason.contains(url.path)
            }
        }
    }

    /// Replaces a run's pca.h5 with `model` written elsewhere (the library refuses to write over a run's file).
    static func replacePCA(of run: ExtractionRun, with model: PCAModel) throws {
        let temporary = try makeScratchFolder("ff-pca") + "/pca.h5"
        try model.write(to: URL(fileURLWithPath: temporary))
        #expect(rename(temporary, run.pcaModelFile.path) == 0)
    }

    @Test func aRunRecordsItsFeatureModelInPCAAndRefusesADisagreement() async throws {
        let extraction = try await AnalysisFixture.extract(componentCount: 2)
        let run = try ExtractionRun(directory: extraction.directory)
        let summary = try run.requireSummary()
        let fitted = try run.readPCAModel()
        #expect(fitted.featureModel != nil)
        #expect(fitted.featureModel == summary.featureModel)
        let photo = extraction.photos[0].path
        let answer = try FruitRecognizer(contentsOf: extraction.directory).recognize(photoAt: photo)

        // Fitted on another backbone's features, on another width, on other weights: refused, naming both files.
        let recorded = try #require(summary.featureModel)
        var other = recorded
        other.architecture = "mobilenet_v3_large"
        other.preprocessing = "keras_mobilenet_v3"
        var narrower = recorded
        narrower.alpha = 0.35
        var otherWeights = recorded
        otherWeights.weightsSHA256 = String(repeating: "ab", count: 32)
        for (identity, words) in [
            (other, "architecture mobilenet_v3_large vs mobilenet_v2, preprocessing keras_mobilenet_v3 vs keras_mobilenet_v2"),
            (narrower, "alpha 0.35 vs 1.0"),
            (otherWeights, "weights SHA-256 ababababab"),
        ] {
            var model = fitted
            model.featureModel = identity
            try Self.replacePCA(of: run, with: model)
            let error = #expect(throws: AnalysisError.self) { try ExtractionRun(directory: extraction.directory).readPCAModel() }
            #expect(error?.kind == .inconsistent)
            #expect(error?.path == extraction.directory.path)
            #expect(error?.reason.hasPrefix("pca.h5 and summary.json disagree on the feature model: pca.h5 was fitted on \(identity.architecture)") == true,
                    "\(error?.reason ?? "")")
            #expect(error?.reason.contains(words) == true, "\(error?.reason ?? "")")
            #expect(throws: AnalysisError.self) { try ReportPage(folder: ExtractionRun(directory: extraction.directory)) }
            #expect(throws: AnalysisError.self) { try FruitRecognizer(contentsOf: extraction.directory) }
            let exit = try SpawnedCommand(["report", extraction.directory.path]).finish()
            #expect(exit.status == 1 && exit.signal == nil, "\(exit.standardError)")
            #expect(exit.standardError.contains("pca.h5 and summary.json disagree on the feature model"), "\(exit.standardError)")
        }

        // A pca.h5 written before it recorded the feature model opens as MobileNetV2 with the Keras preprocessing.
        var old = fitted
        old.featureModel = nil
        try Self.replacePCA(of: run, with: old)
        #expect(try ExtractionRun(directory: extraction.directory).readPCAModel().featureModel == nil)
        #expect(try FruitRecognizer(contentsOf: extraction.directory).recognize(photoAt: photo) == answer)
        _ = try ReportPage(folder: ExtractionRun(directory: extraction.directory)).html()
        #expect(try SpawnedCommand(["report", extraction.directory.path]).finish().status == 0)
        // … which is not what a summary of another backbone records.
        var root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: run.summaryFile)) as? [String: Any])
        var model = try #require(root["feature_model"] as? [String: Any])
        model["architecture"] = "mobilenet_v3_large"
        root["feature_model"] = model
        try JSONSerialization.data(withJSONObject: root).write(to: run.summaryFile)
        let error = #expect(throws: AnalysisError.self) { try ExtractionRun(directory: extraction.directory).readPCAModel() }
        #expect(error?.reason.contains("(it records none: written before pca.h5 recorded the feature model)") == true,
                "\(error?.reason ?? "")")
        #expect(error?.reason.contains("architecture mobilenet_v2 vs mobilenet_v3_large") == true, "\(error?.reason ?? "")")
    }
}
