import Foundation
import Testing
@testable import FruitFeatures

@Suite struct AnalysisRecognizerTests {
    /// 8 components: all the directions 9 photos span, so PCA distances between them are the raw ones.
    static func makeRecognizer(neighbourCount: Int = 3) throws -> (FruitRecognizer, URL) {
        let directory = try AnalysisFixture.makeOutputDirectory(componentCount: 8)
        return (try FruitRecognizer(contentsOf: directory, neighbourCount: neighbourCount), directory)
    }

    @Test func aPhotoOfTheFolderComesBackAsItself() throws {
        let (recognizer, _) = try Self.makeRecognizer()
        for (row, photo) in AnalysisFixture.photos.enumerated() {
            let answer = try recognizer.recognize(photoAt: photo.path)
            #expect(answer.photo == photo.path)
            #expect(answer.neighbours.first?.row == row)
            #expect(answer.neighbours.first?.path == photo.path)
            // The same preprocessing, extractor and PCA as the saved features: distance 0 up to BLAS rounding,
            // far below the distance between different photos (above 3 for these weights).
            #expect((answer.neighbours.first?.distance ?? 1) < 1e-3)
            let own = try #require(answer.labels.first { $0.label == photo.label })
            #expect(own.nearestPath == photo.path)
            #expect(own.nearestDistance < 1e-3)
            #expect(answer.labels.map(\.label).sorted() == ["Apple", "Banana", "Lemon"])
        }
    }

    @Test func heldOutNearCopiesGetTheirLabels() throws {
        // Fixtures/analysis/near_copies: each label's photo 0 re-encoded by Pillow at quality 70 (other bytes and
        // pixels; not in features.csv). With 1-NN they must be nearest to their original, hence get its label.
        let (recognizer, _) = try Self.makeRecognizer(neighbourCount: 1)
        for label in ["Apple", "Banana", "Lemon"] {
            let copy = AnalysisFixture.nearCopies.appendingPathComponent("\(label)_0_100_q70.jpg").path
            let answer = try recognizer.recognize(photoAt: copy, labelCount: 2)
            #expect(answer.label == label, "\(copy)")
            #expect(answer.neighbours.first?.path.hasSuffix("images/\(label)/0_100.jpg") == true)
            #expect(answer.labels.count == 2)
            let distance = try #require(answer.neighbours.first?.distance)
            // Near, but not the same photo.
            #expect(distance > 1e-2)
            #expect(distance < answer.labels[1].nearestDistance)
        }
    }

    @Test func heldOutCopyWithoutItsOriginalIsStillFoundAmongItsLabel() throws {
        // Leave the Apple photo 0 out of the folder: its near copy must now be nearest to another Apple photo
        // (the fixture's apples are closer to each other than to bananas and lemons under these weights).
        let rows = AnalysisFixture.photos.indices.filter { !AnalysisFixture.photos[$0].path.hasSuffix("Apple/0_100.jpg") }
        let directory = try AnalysisFixture.makeOutputDirectory(componentCount: 7, rows: Array(rows))
        let recognizer = try FruitRecognizer(contentsOf: directory, neighbourCount: 1)
        let original = try recognizer.recognize(photoAt: try #require(AnalysisFixture.photos.first { $0.path.hasSuffix("Apple/0_100.jpg") }).path)
        #expect(original.label == "Apple")
        let copy = try recognizer.recognize(photoAt: AnalysisFixture.nearCopies.appendingPathComponent("Apple_0_100_q70.jpg").path)
        #expect(copy.label == "Apple")
    }

    @Test func bytesInMemoryAndRawFeaturesGiveTheSameAnswer() async throws {
        let (recognizer, _) = try Self.makeRecognizer()
        let photo = AnalysisFixture.nearCopies.appendingPathComponent("Banana_0_100_q70.jpg").path
        let fromFile = try recognizer.recognize(photoAt: photo)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: photo))
        #expect(try recognizer.recognize(encodedPhoto: bytes, name: photo) == fromFile)
        let raw = try recognizer.extractor.features(of: try KerasPreprocessor().preprocessFile(atPath: photo))
        #expect(try recognizer.recognize(rawFeatures: raw, name: photo) == fromFile)
        // Many tasks at once share one recognizer.
        let answers = try await withThrowingTaskGroup(of: Recognition.self) { group in
            for _ in 0..<4 { group.addTask { try recognizer.recognize(photoAt: photo) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(answers.allSatisfy { $0 == fromFile })
    }

    @Test func badPhotosAndFoldersAreTypedErrors() throws {
        let (recognizer, directory) = try Self.makeRecognizer()
        let bad = FixturePaths.root.appendingPathComponent("resize/bad/truncated_header.jpg").path
        let error = #expect(throws: AnalysisError.self) { try recognizer.recognize(photoAt: bad) }
        #expect(error?.kind == .image)
        #expect(error?.path == bad)
        #expect(throws: AnalysisError.self) { try recognizer.recognize(photoAt: "/nonexistent.jpg") }
        #expect(throws: AnalysisError.self) { try recognizer.recognize(encodedPhoto: Data([1, 2, 3]), name: "x") }
        #expect(throws: AnalysisError.self) { try recognizer.recognize(rawFeatures: [1, 2], name: "x") }

        // pca.h5 of another K than features.csv.
        let other = try AnalysisFixture.makeOutputDirectory(componentCount: 3)
        try FileManager.default.removeItem(at: other.appendingPathComponent("pca.h5"))
        try FileManager.default.copyItem(at: directory.appendingPathComponent("pca.h5"), to: other.appendingPathComponent("pca.h5"))
        let mismatch = #expect(throws: AnalysisError.self) { try FruitRecognizer(contentsOf: other) }
        #expect(mismatch?.kind == .inconsistent)
        #expect(mismatch?.description.contains("features.csv has 3 features but pca.h5 has 8 components") == true)

        let missing = try makeScratchFolder("ff-empty")
        #expect(throws: AnalysisError.self) { try FruitRecognizer(contentsOf: URL(fileURLWithPath: missing)) }
        #expect(throws: AnalysisError.self) { try FruitRecognizer(contentsOf: URL(fileURLWithPath: missing + "/nope")) }
    }

    @Test func weightsComeFromTheFlagThenTheSummaryThenTheUsualPlaces() throws {
        let weights = AnalysisFixture.weights
        let summaryWithMissing = ExtractionSummary(root: ["weights": .object(["path": .string("/gone/weights.h5")])])
        let summaryWithFixture = ExtractionSummary(root: ["weights": .object(["path": .string(weights.path)])])
        let noEnvironment = ["HOME": "/nonexistent-home"]
        #expect(try FruitRecognizer.weightsPath(explicit: weights, summary: summaryWithMissing, environment: noEnvironment) == weights.path)
        #expect(try FruitRecognizer.weightsPath(explicit: nil, summary: summaryWithFixture, environment: noEnvironment) == weights.path)
        #expect(try FruitRecognizer.weightsPath(
            explicit: nil, summary: summaryWithMissing,
            environment: noEnvironment.merging(["FRUITFEATURES_WEIGHTS": weights.path]) { $1 }) == weights.path)
        let error = #expect(throws: AnalysisError.self) {
            try FruitRecognizer.weightsPath(explicit: nil, summary: summaryWithMissing, environment: noEnvironment)
        }
        #expect(error?.kind == .weights)
        #expect(error?.description.contains("summary.json names /gone/weights.h5") == true)
        #expect(throws: AnalysisError.self) {
            try FruitRecognizer.weightsPath(explicit: URL(fileURLWithPath: "/gone.h5"), summary: nil, environment: noEnvironment)
        }
        let notWeights = #expect(throws: AnalysisError.self) {
            try FruitRecognizer(contentsOf: try AnalysisFixture.makeOutputDirectory(componentCount: 2),
                                weights: FixturePaths.root.appendingPathComponent("hdf5/types.h5"))
        }
        #expect(notWeights?.kind == .weights)
    }
}
