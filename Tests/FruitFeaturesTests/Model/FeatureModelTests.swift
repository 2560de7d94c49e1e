import Foundation
import Testing
@testable import FruitFeatures

/// The feature-model seam and its one batch path: encoded images in, features and per-image errors out.
@Suite struct FeatureModelTests {
    static let weights = FixturePaths.root.appendingPathComponent("weights/mobilenet_v2_1.0_224_random.h5").path
    static let model: Result<any FeatureModel, any Error> = Result { try FeatureModelLoader.load(weightsAt: weights) }

    /// The fixture photos' bytes, sorted by path, with a bad file in the middle.
    static func photos() throws -> (names: [String], bytes: [[UInt8]]) {
        let root = FixturePaths.root.appendingPathComponent("images").path
        var names = try FileManager.default.subpathsOfDirectory(atPath: root).filter { $0.hasSuffix(".jpg") }.sorted()
            .map { root + "/" + $0 }
        names.insert(FixturePaths.root.appendingPathComponent("resize/bad/png_named.jpg").path, at: 4)
        return (names, try names.map { Array(try Data(contentsOf: URL(fileURLWithPath: $0))) })
    }

    @Test func identityNamesTheModelThatRan() throws {
        let model = try Self.model.get()
        let identity = model.identity
        #expect(identity.architecture == "mobilenet_v2")
        #expect(identity.alpha == 1.0)
        #expect(identity.inputSize == 224)
        #expect(identity.preprocessing == "keras_mobilenet_v2")
        #expect(identity.featureCount == 1280)
        #expect(identity.weightsSHA256 == (try sha256HexDigest(ofFileAt: Self.weights)))
        #expect(["avx2", "portable", "avx512"].contains(identity.kernelLevel))
        var other = identity
        other.preprocessing = "keras_mobilenet_v3"
        other.kernelLevel = "portable"
        #expect(identity.mismatch(with: other) == "preprocessing keras_mobilenet_v2 vs keras_mobilenet_v3")
    }

    /// Every model is named one way (the server's `model.architecture`, Docs/serve.md): the Keras application's name,
    /// alpha and input size.
    @Test func everyNetworkIsDescribedByItsKerasName() throws {
        #expect(try Self.model.get().identity.networkDescription == "MobileNetV2 alpha 1.0, 224×224")
        func described(_ architecture: String, alpha: Double?, size: Int = 224) -> String {
            FeatureModelIdentity(
                architecture: architecture, alpha: alpha, inputSize: size, preprocessing: "p", featureCount: 1,
                weightsSHA256: "").networkDescription
        }
        #expect(described("mobilenet_v2", alpha: 0.35, size: 96) == "MobileNetV2 alpha 0.35, 96×96")
        #expect(described("mobilenet_v2", alpha: nil) == "MobileNetV2 224×224")
        #expect(described("mobilenet_v3_large", alpha: 0.75) == "MobileNetV3Large alpha 0.75, 224×224")
        #expect(described("mobilenet_v3_small", alpha: 1.0) == "MobileNetV3Small alpha 1.0, 224×224")
        #expect(described("mobilenet_v3_large_minimalistic", alpha: 1.0) == "MobileNetV3Large (minimalistic) alpha 1.0, 224×224")
        #expect(described("efficientnet_b0", alpha: nil) == "efficientnet_b0 224×224")
    }

    @Test func theBatchPathEqualsOneImageAtATimeAndKeepsErrorsInPlace() async throws {
        let model = try Self.model.get()
        let (names, bytes) = try Self.photos()
        let batch = model.features(ofEncoded: bytes, names: names)
        #expect(batch.count == names.count)
        for (index, result) in batch.enumerated() {
            let single = model.features(ofEncoded: [bytes[index]], names: [names[index]])[0]
            switch (result, single) {
            case (.success(let a), .success(let b)): #expect(a == b, "\(names[index])")
            case (.failure(let a), .failure(let b)): #expect(a == b)
            default: Issue.record("\(names[index]): \(result) vs \(single)")
            }
        }
        let failure = try #require(batch[4].failure)
        #expect(failure.path == names[4])
        #expect(failure.reason == .notJPEG(.png))
        // The Keras golden features through the same path (≤ 1e-4).
        let golden = try KerasGoldens.features(try #require(try KerasGoldens.index().models["alpha_1.0"]?.images), featureCount: 1280)
        for (name, expected) in golden {
            let index = try #require(names.firstIndex { $0.hasSuffix("/" + name.dropFirst("images/".count)) })
            #expect(maxAbsoluteDifference(try batch[index].get(), expected) <= 1e-4, "\(name)")
        }

        // Files on several cores: the same bits for any job count and batch size.
        for (jobs, batchSize) in [(1, 1), (2, 3), (3, 16)] {
            let fromFiles = await FeatureBatchRunner.features(ofFilesAt: names, model: model, jobs: jobs, batchSize: batchSize)
            for (a, b) in zip(fromFiles, batch) {
                #expect((try? a.get()) == (try? b.get()), "jobs \(jobs), batch \(batchSize)")
            }
            #expect(fromFiles[4].failure?.reason == .notJPEG(.png))
        }
    }

    @Test func theBufferAndOffsetsPathGivesNaNRowsForFailures() throws {
        let model = try Self.model.get()
        let (_, bytes) = try Self.photos()
        let data = bytes.flatMap { $0 }
        var offsets = [0]
        for image in bytes { offsets.append(offsets.last! + image.count) }
        let featureCount = model.featureCount
        var output = [Float](repeating: 0, count: (bytes.count + 1) * featureCount)
        let failures = data.withUnsafeBytes { buffer in
            output.withUnsafeMutableBufferPointer { output in
                model.features(count: bytes.count + 1, encoded: { index in
                    guard index < bytes.count else { return .failure(InvalidImageArgument(description: "out of range")) }
                    return .success(UnsafeRawBufferPointer(rebasing: buffer[offsets[index]..<offsets[index + 1]]))
                }, into: output)
            }
        }
        let expected = model.features(ofEncoded: bytes)
        for index in 0..<bytes.count {
            let row = Array(output[(index * featureCount)..<((index + 1) * featureCount)])
            if let features = try? expected[index].get() {
                #expect(failures[index] == nil)
                #expect(row == features)
            } else {
                #expect(failures[index] is ImageError)
                let allNaN = row.allSatisfy { $0.isNaN }
                #expect(allNaN)
            }
        }
        #expect(failures.last.flatMap { $0 } is InvalidImageArgument)
    }
}

extension Result {
    /// The error, or nil on success.
    var failure: Failure? {
        if case .failure(let error) = self { error } else { nil }
    }
}
