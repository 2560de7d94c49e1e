import Foundation
import Testing
@testable import FruitFeatures

/// `fruitfeatures report`, `evaluate` and `predict` run as a user would, on output folders made from Fixtures/images.
@Suite struct AnalysisCommandTests {
    @Test func evaluatePrintsScoresAndWritesJSON() async throws {
        let directory = try await AnalysisFixture.extract(componentCount: 8).directory
        let result = try CommandRunner.run(["evaluate", directory.path, "--neighbors", "1", "--folds", "3", "--seed", "4"])
        #expect(result.status == 0, "\(result.standardError)")
        let written = try Evaluation(contentsOf: directory.appendingPathComponent("evaluation.json"))
        // The same evaluation as the library computes, printed as the library formats it.
        let expected = try CrossValidation(neighbourCount: 1, foldCount: 3, seed: 4).evaluate(
            try FeatureTable(contentsOfCSV: directory.appendingPathComponent("features.csv")))
        #expect(written == expected)
        #expect(result.standardOutput == expected.formatted() + "\n\nwrote \(directory.path)/evaluation.json\n")
        #expect(result.standardOutput.contains("confusion matrix"))

        let json = try CommandRunner.run(["evaluate", directory.path, "--folds", "3", "--json", "--output", directory.path + "/e.json"])
        #expect(json.status == 0)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let printed = try decoder.decode(Evaluation.self, from: Data(json.standardOutput.utf8))
        #expect(printed.neighbourCount == 5)
        #expect(printed == (try Evaluation(contentsOf: URL(fileURLWithPath: directory.path + "/e.json"))))
    }

    @Test func evaluateRejectsBadUsageAndMissingFolders() async throws {
        let directory = try await AnalysisFixture.extract(componentCount: 2).directory
        let oneFold = try CommandRunner.run(["evaluate", directory.path, "--folds", "1"])
        #expect(oneFold.status == 64)
        #expect(oneFold.standardError.contains("--folds must be at least 2"))
        #expect(try CommandRunner.run(["evaluate", directory.path, "--neighbors", "0"]).status == 64)
        let tooMany = try CommandRunner.run(["evaluate", directory.path, "--folds", "10"])
        #expect(tooMany.status == 1)
        #expect(tooMany.standardError == "fruitfeatures: error: 9 rows cannot be split into 10 folds\n")
        let missing = try CommandRunner.run(["evaluate", "/nonexistent-folder"])
        #expect(missing.status == 1)
        #expect(missing.standardError == "fruitfeatures: error: /nonexistent-folder: not an existing folder\n")
    }

    @Test func reportWritesTheSamePageAsTheLibrary() async throws {
        let directory = try await AnalysisFixture.extract(componentCount: 4).directory
        let result = try CommandRunner.run(["report", directory.path])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput == directory.path + "/report.html\n")
        let written = try String(contentsOfFile: directory.path + "/report.html", encoding: .utf8)
        let output = try ExtractionRun(directory: directory)
        #expect(written == (try ReportPage(folder: output).html()))

        let elsewhere = directory.path + "/elsewhere.html"
        let thin = try CommandRunner.run(["report", directory.path, "--output", elsewhere, "--max-points", "2"])
        #expect(thin.status == 0)
        #expect(try String(contentsOfFile: elsewhere, encoding: .utf8).contains("2 of the 9 images"))

        let pca = try ExtractionRun(directory: directory).pcaModelFile.path
        try FileManager.default.removeItem(atPath: pca)
        let noModel = try CommandRunner.run(["report", directory.path])
        #expect(noModel.status == 1)
        #expect(noModel.standardError == "fruitfeatures: error: \(pca): no such file\n")
    }

    @Test func predictAnswersEachPhotoAndReportsUnreadableOnes() async throws {
        let directory = try await AnalysisFixture.extract(componentCount: 8).directory
        let copies = ["Apple", "Banana", "Lemon"].map { AnalysisFixture.nearCopies.appendingPathComponent("\($0)_0_100_q70.jpg").path }
        let result = try CommandRunner.run(["predict"] + copies + ["--model", directory.path, "--top", "2", "--neighbors", "1"])
        #expect(result.status == 0, "\(result.standardError)")
        let recognizer = try FruitRecognizer(contentsOf: directory, neighbourCount: 1)
        let expected = try copies.map { try recognizer.recognize(photoAt: $0, labelCount: 2) }
        #expect(expected.map(\.label) == ["Apple", "Banana", "Lemon"])
        let blocks = result.standardOutput.components(separatedBy: "\n\n")
        #expect(blocks.count == 3)
        for (block, recognition) in zip(blocks, expected) {
            let lines = block.split(separator: "\n").map(String.init)
            #expect(lines.first == "\(recognition.photo): \(recognition.label)")
            // Header, 2 labels, the neighbours' title and 1 neighbour.
            #expect(lines.count == 6)
            #expect(lines[2].hasPrefix("  \(recognition.label) "))
            #expect(lines[2].hasSuffix(recognition.labels[0].nearestPath))
            #expect(lines.last?.hasSuffix(recognition.neighbours[0].path) == true)
            #expect(lines.last?.contains(String(format: "%7.3f", recognition.neighbours[0].distance)) == true)
        }

        let json = try CommandRunner.run(["predict", copies[0], "--model", directory.path, "--json", "--top", "3"])
        #expect(json.status == 0)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let decoded = try decoder.decode(Recognition.self, from: Data(json.standardOutput.utf8))
        #expect(decoded == (try FruitRecognizer(contentsOf: directory).recognize(photoAt: copies[0], labelCount: 3)))

        let bad = FixturePaths.root.appendingPathComponent("resize/bad/png_named.jpg").path
        let mixed = try CommandRunner.run(["predict", bad, copies[1], "/nonexistent.jpg", "--model", directory.path])
        #expect(mixed.status == 3)
        #expect(mixed.standardOutput.hasPrefix("\(copies[1]): Banana\n"))
        let errors = mixed.standardError.split(separator: "\n").map(String.init)
        #expect(errors.count == 3)
        #expect(errors[0].hasPrefix("fruitfeatures: \(bad): "))
        #expect(errors[1].hasPrefix("fruitfeatures: /nonexistent.jpg: "))
        #expect(errors[2] == "fruitfeatures: error: 2 of 3 photos could not be read")
    }

    @Test func predictNeedsAModelAndWeights() async throws {
        let extraction = try await AnalysisFixture.extract(componentCount: 2)
        let directory = extraction.directory
        try AnalysisFixture.editSummary(directory, ["weights", "path"], to: "/gone/weights.h5")
        let photo = extraction.photos[0].path
        let noWeights = try CommandRunner.run(["predict", photo, "--model", directory.path],
                                              environment: ["HOME": "/nonexistent-home", "FRUITFEATURES_WEIGHTS": ""])
        #expect(noWeights.status == 1)
        #expect(noWeights.standardError.hasPrefix(
            "fruitfeatures: error: no weights file with the run's SHA-256 "))
        #expect(noWeights.standardError.contains("(tried summary.json's path /gone/weights.h5: No such file or directory; the Keras cache /nonexistent-home/.keras/models/"))
        let explicit = try CommandRunner.run(["predict", photo, "--model", directory.path, "--weights", AnalysisFixture.weights.path])
        #expect(explicit.status == 0, "\(explicit.standardError)")
        #expect(explicit.standardOutput.hasPrefix("\(photo): "))
        #expect(try CommandRunner.run(["predict", "--model", directory.path]).status == 64)
        #expect(try CommandRunner.run(["predict", photo]).status == 64)
        #expect(try CommandRunner.run(["predict", photo, "--model", directory.path, "--top", "0"]).status == 64)
    }

    @Test func theFourCommandsOpenAFolderWithTheSameWeightsRule() async throws {
        // The weights moved after the run: summary.json's path is gone, $FRUITFEATURES_WEIGHTS has them.
        let extraction = try await AnalysisFixture.extract(componentCount: 2)
        let directory = extraction.directory.path
        try AnalysisFixture.editSummary(extraction.directory, ["weights", "path"], to: "/gone/weights.h5")
        let moved = try makeScratchFolder("ff-moved") + "/weights.h5"
        try FileManager.default.copyItem(atPath: AnalysisFixture.weights.path, toPath: moved)
        let found = ["HOME": "/nonexistent-home", "FRUITFEATURES_WEIGHTS": moved]
        let photo = extraction.photos[0].path
        let predict = try CommandRunner.run(["predict", photo, "--model", directory], environment: found)
        #expect(predict.status == 0, "\(predict.standardError)")
        let transform = try CommandRunner.run(["transform", photo, "--model", directory], environment: found)
        #expect(transform.status == 0, "\(transform.standardError)")
        // The transformed row is the run's own row for that photo.
        let run = try ExtractionRun(directory: extraction.directory)
        let table = try run.readFeatures()
        let printed = transform.standardOutput.split(separator: "\n")[1].split(separator: ",").dropFirst(2).compactMap { Float($0) }
        let own = Array(table.features(ofRow: 0))
        #expect(printed.count == own.count)
        #expect(maxAbsoluteDifference(printed, own) <= 1e-5)

        // A file of other weights is refused by both, explicitly or through the environment, with the same words.
        let other = FixturePaths.root.appendingPathComponent("hdf5/types.h5").path
        for command in ["predict", "transform"] {
            let explicit = try CommandRunner.run([command, photo, "--model", directory, "--weights", other], environment: found)
            #expect(explicit.status == 1)
            #expect(explicit.standardError.contains("\(other): these weights are not those the PCA was fitted with"), "\(command)")
            let wrong = try CommandRunner.run([command, photo, "--model", directory],
                                              environment: ["HOME": "/nonexistent-home", "FRUITFEATURES_WEIGHTS": other])
            #expect(wrong.status == 1)
            #expect(wrong.standardError.contains("$FRUITFEATURES_WEIGHTS \(other): its SHA-256 "), "\(command)")
        }
        // report and evaluate need no weights at all.
        let none = ["HOME": "/nonexistent-home", "FRUITFEATURES_WEIGHTS": ""]
        #expect(try CommandRunner.run(["evaluate", directory, "--folds", "2", "--neighbors", "1"], environment: none).status == 0)
        #expect(try CommandRunner.run(["report", directory], environment: none).status == 0)
    }
}
