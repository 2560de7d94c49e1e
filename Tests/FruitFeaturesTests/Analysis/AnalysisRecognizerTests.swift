import Foundation
import Testing
@testable import FruitFeatures

@Suite struct AnalysisRecognizerTests {
    /// 8 components: all the directions 9 photos span, so PCA distances between them are the raw ones.
    static func makeRecognizer(neighbourCount: Int = 3) async throws -> (FruitRecognizer, AnalysisFixture.Extraction) {
        let extraction = try await AnalysisFixture.extract(componentCount: 8)
        return (try FruitRecognizer(contentsOf: extraction.directory, neighbourCount: neighbourCount), extraction)
    }

    @Test func aPhotoOfTheFolderComesBackAsItself() async throws {
        let (recognizer, extraction) = try await Self.makeRecognizer()
        #expect(extraction.photos.count == 9)
        #expect(recognizer.classifier.training.paths == extraction.photos.map(\.path))
        for (row, photo) in extraction.photos.enumerated() {
            let answer = try recognizer.recognize(photoAt: photo.path)
            #expect(answer.photo == photo.path)
            #expect(answer.neighbours.first?.row == row)
            #expect(answer.neighbours.first?.path == photo.path)
            // The extract command's preprocessing, network and PCA again: distance 0 up to rounding, far below the
            // distance between different photos (above 3 for these weights).
            #expect((answer.neighbours.first?.distance ?? 1) < 1e-3)
            let own = try #require(answer.labels.first { $0.label == photo.label })
            #expect(own.nearestPath == photo.path)
            #expect(own.nearestDistance < 1e-3)
            #expect(answer.labels.map(\.label).sorted() == AnalysisFixture.labels)
        }
    }

    @Test func heldOutNearCopiesGetTheirLabels() async throws {
        // Fixtures/analysis/near_copies: each label's photo 0 re-encoded by Pillow at quality 70 (other bytes and
        // pixels; not in features.csv). With 1-NN they must be nearest to their original, hence get its label.
        let (recognizer, extraction) = try await Self.makeRecognizer(neighbourCount: 1)
        for label in AnalysisFixture.labels {
            let copy = AnalysisFixture.nearCopies.appendingPathComponent("\(label)_0_100_q70.jpg").path
            let answer = try recognizer.recognize(photoAt: copy, labelCount: 2)
            #expect(answer.label == label, "\(copy)")
            #expect(answer.neighbours.first?.path == extraction.photo("\(label)/0_100.jpg"))
            #expect(answer.labels.count == 2)
            let distance = try #require(answer.neighbours.first?.distance)
            // Near, but not the same photo.
            #expect(distance > 1e-2)
            #expect(distance < answer.labels[1].nearestDistance)
        }
    }

    @Test func heldOutCopyWithoutItsOriginalIsStillFoundAmongItsLabel() async throws {
        // Leave the Apple photo 0 out of the extraction: it and its near copy must now be nearest to another Apple
        // photo (the fixture's apples are nearer each other than bananas and lemons under these weights).
        let extraction = try await AnalysisFixture.extract(componentCount: 7, excluding: ["Apple/0_100.jpg"])
        #expect(extraction.photos.count == 8)
        let recognizer = try FruitRecognizer(contentsOf: extraction.directory, neighbourCount: 1)
        let original = try recognizer.recognize(photoAt: FixturePaths.root.appendingPathComponent("images/Apple/0_100.jpg").path)
        #expect(original.label == "Apple")
        let copy = try recognizer.recognize(photoAt: AnalysisFixture.nearCopies.appendingPathComponent("Apple_0_100_q70.jpg").path)
        #expect(copy.label == "Apple")
    }

    @Test func bytesInMemoryAndRawFeaturesGiveTheSameAnswer() async throws {
        let (recognizer, _) = try await Self.makeRecognizer()
        let photo = AnalysisFixture.nearCopies.appendingPathComponent("Banana_0_100_q70.jpg").path
        let fromFile = try recognizer.recognize(photoAt: photo)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: photo))
        #expect(try recognizer.recognize(encodedPhoto: bytes, name: photo) == fromFile)
        let raw = try recognizer.model.features(ofEncoded: [bytes], names: [photo])[0].get()
        #expect(try recognizer.recognize(rawFeatures: raw, name: photo) == fromFile)
        // Many tasks at once share one recognizer.
        let answers = try await withThrowingTaskGroup(of: Recognition.self) { group in
            for _ in 0..<4 { group.addTask { try recognizer.recognize(photoAt: photo) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(answers.count == 4 && answers.allSatisfy { $0 == fromFile })
    }

    @Test func badPhotosAndFoldersAreTypedErrors() async throws {
        let (recognizer, extraction) = try await Self.makeRecognizer()
        let bad = FixturePaths.root.appendingPathComponent("resize/bad/truncated_header.jpg").path
        let error = #expect(throws: AnalysisError.self) { try recognizer.recognize(photoAt: bad) }
        #expect(error?.kind == .image)
        #expect(error?.path == bad)
        #expect(throws: AnalysisError.self) { try recognizer.recognize(photoAt: "/nonexistent.jpg") }
        #expect(throws: AnalysisError.self) { try recognizer.recognize(encodedPhoto: Data([1, 2, 3]), name: "x") }
        #expect(throws: AnalysisError.self) { try recognizer.recognize(rawFeatures: [1, 2], name: "x") }

        // features.csv of another K than pca.h5.
        let other = try await AnalysisFixture.extract(componentCount: 3)
        let features = try ExtractionRun(directory: other.directory).featuresCSV
        try FileManager.default.removeItem(at: features)
        try FileManager.default.copyItem(at: ExtractionRun(directory: extraction.directory).featuresCSV, to: features)
        let mismatch = #expect(throws: AnalysisError.self) { try FruitRecognizer(contentsOf: other.directory) }
        #expect(mismatch?.kind == .inconsistent)
        #expect(mismatch?.description.contains("features.csv has 8 features but pca.h5 has 3 components") == true)

        let empty = try makeScratchFolder("ff-empty")
        let noSummary = #expect(throws: AnalysisError.self) { try FruitRecognizer(contentsOf: URL(fileURLWithPath: empty)) }
        #expect(noSummary?.path == empty + "/summary.json")
        #expect(throws: AnalysisError.self) { try FruitRecognizer(contentsOf: URL(fileURLWithPath: empty + "/nope")) }
    }

    @Test func weightsComeFromTheFlagThenTheSummaryThenTheUsualPlaces() async throws {
        let weights = AnalysisFixture.weights
        let sha = try WeightsLocation.digest(ofFileAt: weights.path)
        let home = try makeScratchFolder("ff-home")
        let noEnvironment = ["HOME": home]
        func resolve(explicit: String? = nil, recorded: String?, environment: [String: String] = noEnvironment) throws -> String {
            try WeightsLocation.resolve(explicit: explicit, recorded: recorded, expectedSHA256: sha, environment: environment).path
        }
        #expect(try resolve(explicit: weights.path, recorded: "/gone/weights.h5") == weights.path)
        #expect(try resolve(recorded: weights.path) == weights.path)
        #expect(try resolve(recorded: "/gone/weights.h5",
                            environment: noEnvironment.merging(["FRUITFEATURES_WEIGHTS": weights.path]) { $1 }) == weights.path)
        // The Keras cache, under $HOME/.keras/models.
        let cache = WeightsLocation.kerasCachePath(environment: noEnvironment)
        try FileManager.default.createDirectory(atPath: (cache as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: weights.path, toPath: cache)
        #expect(try resolve(recorded: "/gone/weights.h5") == cache)

        // Candidates of another SHA-256 are skipped: the environment's file is not the run's, the cache's is.
        let other = FixturePaths.root.appendingPathComponent("hdf5/types.h5").path
        #expect(try resolve(recorded: other, environment: noEnvironment.merging(["FRUITFEATURES_WEIGHTS": other]) { $1 }) == cache)

        // None usable: one error naming every place tried and why each was refused.
        try FileManager.default.removeItem(atPath: cache)
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: false)
        let error = #expect(throws: WeightsLocationError.self) {
            try resolve(recorded: "/gone/weights.h5", environment: noEnvironment.merging(["FRUITFEATURES_WEIGHTS": other]) { $1 })
        }
        let message = error?.description ?? ""
        #expect(message.hasPrefix("no weights file with the run's SHA-256 \(sha.prefix(12))… found (tried "))
        #expect(message.contains("summary.json's path /gone/weights.h5: No such file or directory"))
        #expect(message.contains("$FRUITFEATURES_WEIGHTS \(other): its SHA-256 "))
        #expect(message.contains("is not the run's \(sha.prefix(12))…"))
        #expect(message.contains("the Keras cache \(cache): is a folder, not a file"))
        // An explicit file is the only candidate and must be the run's.
        let explicit = #expect(throws: WeightsLocationError.self) { try resolve(explicit: other, recorded: weights.path) }
        #expect(explicit?.description.hasPrefix("\(other): these weights are not those the PCA was fitted with") == true)
        #expect(throws: WeightsLocationError.self) { try resolve(explicit: "/gone.h5", recorded: weights.path) }

        // Through the run type: a run whose weights file moved is found through the environment.
        let extraction = try await AnalysisFixture.extract(componentCount: 2)
        let moved = try makeScratchFolder("ff-weights") + "/moved.h5"
        try FileManager.default.copyItem(at: weights, to: URL(fileURLWithPath: moved))
        try AnalysisFixture.editSummary(extraction.directory, ["weights", "path"], to: "/gone/weights.h5")
        let viaEnvironment = try FruitRecognizer(
            contentsOf: extraction.directory, environment: noEnvironment.merging(["FRUITFEATURES_WEIGHTS": moved]) { $1 })
        #expect(try viaEnvironment.recognize(photoAt: extraction.photos[0].path).neighbours.first?.row == 0)
        let notTheirs = #expect(throws: AnalysisError.self) {
            try FruitRecognizer(contentsOf: extraction.directory, weights: URL(fileURLWithPath: other))
        }
        #expect(notTheirs?.kind == .weights)
        #expect(notTheirs?.description.contains("are not those the PCA was fitted with") == true)
        // report and evaluate never need the weights: the run opens and its files read without any.
        let run = try ExtractionRun(directory: extraction.directory)
        #expect(try run.readFeatures().rowCount == extraction.photos.count)
        #expect(try run.readPCAModel().componentCount == 2)
    }

    @Test func aRunOfAnotherModelIsRefusedAndAnOldRunOpensAsMobileNetV2() async throws {
        let extraction = try await AnalysisFixture.extract(componentCount: 2)
        let photo = extraction.photos[0].path
        let reference = try FruitRecognizer(contentsOf: extraction.directory).recognize(photoAt: photo)

        // Made before summary.json named the feature model: MobileNetV2 with the Keras preprocessing.
        let summaryFile = try ExtractionRun(directory: extraction.directory).summaryFile
        var root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: summaryFile)) as? [String: Any])
        let recorded = try #require(root.removeValue(forKey: "feature_model") as? [String: Any])
        try JSONSerialization.data(withJSONObject: root).write(to: summaryFile)
        let old = try ExtractionRun(directory: extraction.directory)
        #expect(try old.readSummary()?.featureModel == nil)
        #expect(try old.readSummary()?.featureModelIdentity.architecture == "mobilenet_v2")
        #expect(try FruitRecognizer(run: old).recognize(photoAt: photo) == reference)

        // Another preprocessing, another architecture, weights of another width: refused, saying what differs.
        for (key, value, words) in [
            ("preprocessing", "keras_mobilenet_v3" as Any, "preprocessing keras_mobilenet_v3, which this version of FruitFeatures cannot run"),
            ("architecture", "mobilenet_v3_large" as Any, "the run was made with mobilenet_v3_large"),
            ("alpha", 0.35 as Any, "these weights do not make the run's features (alpha 1.0 vs 0.35, the weights first)"),
        ] {
            var edited = root
            var identity = recorded
            identity[key] = value
            edited["feature_model"] = identity
            try JSONSerialization.data(withJSONObject: edited).write(to: summaryFile)
            let error = #expect(throws: AnalysisError.self) { try FruitRecognizer(contentsOf: extraction.directory) }
            #expect(error?.kind == .weights)
            #expect(error?.description.contains(words) == true, "\(error?.description ?? "")")
        }
    }
}
