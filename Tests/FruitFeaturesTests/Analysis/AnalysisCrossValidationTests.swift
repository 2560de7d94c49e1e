import Foundation
import Testing
@testable import FruitFeatures

@Suite struct AnalysisCrossValidationTests {
    static func labels(_ counts: [(String, Int)], seed: UInt64) -> [String] {
        var labels = counts.flatMap { label, count in [String](repeating: label, count: count) }
        var generator = SeededGenerator(seed: seed)
        labels.shuffle(using: &generator)
        return labels
    }

    @Test(arguments: [2, 3, 5, 10])
    func stratifiedFoldsKeepLabelProportions(foldCount: Int) throws {
        let counts = [("apple", 53), ("banana", 17), ("cherry", 9), ("date", 4), ("elder", 1)]
        let labels = Self.labels(counts, seed: UInt64(foldCount))
        let folds = try StratifiedFolds(labels: labels, foldCount: foldCount, seed: 7)
        #expect(folds.assignment.count == labels.count)
        // Every row in exactly one fold; the test and training rows of a fold partition the rows.
        var seen = [Int](repeating: 0, count: labels.count)
        for fold in 0..<foldCount {
            let test = folds.testRows(of: fold)
            let training = folds.trainingRows(of: fold)
            #expect(Set(test).isDisjoint(with: training))
            #expect(test.count + training.count == labels.count)
            for row in test { seen[row] += 1 }
            for (label, total) in counts {
                let inFold = test.filter { labels[$0] == label }.count
                // ⌊n/k⌋ or ⌈n/k⌉ of each label's n rows in every fold.
                #expect(inFold >= total / foldCount && inFold <= (total + foldCount - 1) / foldCount,
                        "fold \(fold), \(label): \(inFold) of \(total)")
            }
        }
        #expect(seen.allSatisfy { $0 == 1 })
        let sizes = (0..<foldCount).map { folds.testRows(of: $0).count }
        #expect((sizes.max() ?? 0) - (sizes.min() ?? 0) <= 1)
    }

    @Test func foldsDependOnlyOnTheSeed() throws {
        let labels = Self.labels([("a", 40), ("b", 30)], seed: 1)
        let first = try StratifiedFolds(labels: labels, foldCount: 5, seed: 3)
        #expect(try StratifiedFolds(labels: labels, foldCount: 5, seed: 3) == first)
        #expect(try StratifiedFolds(labels: labels, foldCount: 5, seed: 4) != first)
    }

    @Test func rejectsImpossibleSplits() {
        #expect(throws: AnalysisError.self) { try StratifiedFolds(labels: ["a", "b", "c"], foldCount: 1) }
        #expect(throws: AnalysisError.self) { try StratifiedFolds(labels: ["a", "b", "c"], foldCount: 4) }
        #expect(throws: AnalysisError.self) { try StratifiedFolds(assignment: [0, 1, 3], foldCount: 3) }
        #expect(throws: AnalysisError.self) { try StratifiedFolds(assignment: [0, 0, 2], foldCount: 3) }
        #expect(throws: AnalysisError.self) { try StratifiedFolds(assignment: [0, 0], foldCount: 1) }
    }

    @Test func predictionsAndScoresMatchScikitLearnOnFixedFolds() throws {
        let table = try FeatureTable(contentsOfCSV: AnalysisFixture.golden.appendingPathComponent("knn/features.csv"))
        let golden = try KNNGolden.load()
        #expect(golden.tiedVotes > 0)
        let folds = try StratifiedFolds(assignment: golden.foldAssignment, foldCount: golden.foldCount)
        let validation = CrossValidation(neighbourCount: golden.neighbourCount)
        let predicted = try validation.predictedLabels(table, folds: folds)
        #expect(predicted == golden.predictions)
        // Where scikit-learn's KNeighborsClassifier breaks a tied vote otherwise (it picks the first label in
        // sorted order), the documented rule is what the golden holds.
        #expect(predicted != golden.sklearnKnnPredictions)

        let evaluation = try validation.evaluate(table, folds: folds)
        #expect(evaluation.seed == nil)
        #expect(evaluation.foldCount == golden.foldCount)
        #expect(evaluation.rowCount == 60)
        let report = evaluation.report
        let expected = golden.sklearn
        #expect(report.labels == expected.labels)
        #expect(report.confusionMatrix == expected.confusionMatrix)
        #expect(abs(report.accuracy - expected.accuracy) <= 1e-15)
        for (index, metrics) in report.perLabel.enumerated() {
            #expect(abs(metrics.precision - expected.precision[index]) <= 1e-15)
            #expect(abs(metrics.recall - expected.recall[index]) <= 1e-15)
            #expect(abs(metrics.f1 - expected.f1[index]) <= 1e-15)
            #expect(metrics.support == expected.support[index])
        }
        #expect(abs(report.macroAverage.f1 - expected.macro.f1) <= 1e-14)
        #expect(abs(report.weightedAverage.f1 - expected.weighted.f1) <= 1e-14)
        // Misclassified rows are exactly the wrong predictions; fold accuracies recount them.
        let wrong = (0..<60).filter { table.labels[$0] != golden.predictions[$0] }
        #expect(evaluation.misclassified.map(\.path) == wrong.map { table.paths[$0] })
        #expect(evaluation.misclassified.map(\.predicted) == wrong.map { golden.predictions[$0] })
        for fold in 0..<golden.foldCount {
            let rows = folds.testRows(of: fold)
            let correct = rows.filter { table.labels[$0] == golden.predictions[$0] }.count
            #expect(evaluation.foldAccuracies[fold] == Double(correct) / Double(rows.count))
        }
    }

    @Test func seededEvaluationIsReproducibleAndNotesTinyFolds() throws {
        let table = try AnalysisNearestNeighbourTests.randomTable(seed: 2, rows: 23, featureCount: 5, labels: ["a", "b", "c"])
        let validation = CrossValidation(neighbourCount: 3, foldCount: 5, seed: 9)
        let evaluation = try validation.evaluate(table)
        #expect(try validation.evaluate(table) == evaluation)
        #expect(evaluation.seed == 9)
        let folds = try StratifiedFolds(labels: table.labels, foldCount: 5, seed: 9)
        #expect(try validation.predictedLabels(table, folds: folds).enumerated().filter { table.labels[$0.offset] != $0.element }.count
                == evaluation.misclassified.count)
        let rare = try FeatureTable(paths: ["1", "2", "3", "4"], labels: ["a", "a", "a", "b"], featureCount: 1, values: [0, 1, 2, 3])
        let notes = try CrossValidation(neighbourCount: 5, foldCount: 2).evaluate(rare).notes
        #expect(notes.count == 2)
        #expect(notes.contains { $0.contains("b (1)") })
        #expect(notes.contains { $0.contains("only 2 rows") })
    }

    @Test func evaluationRoundTripsThroughJSON() throws {
        let table = try AnalysisNearestNeighbourTests.randomTable(seed: 4, rows: 30, featureCount: 3, labels: ["x", "y, \"z\""])
        let evaluation = try CrossValidation(neighbourCount: 3, foldCount: 3, seed: 1).evaluate(table)
        let url = URL(fileURLWithPath: try makeScratchFolder("ff-eval")).appendingPathComponent("evaluation.json")
        try evaluation.write(to: url)
        #expect(try Evaluation(contentsOf: url) == evaluation)
        let json = try String(contentsOf: url, encoding: .utf8)
        #expect(json.contains("\"confusion_matrix\""))
        #expect(json.contains("\"fold_accuracies\""))
        #expect(json.contains("\"neighbour_count\" : 3"))
        try Data("{}".utf8).write(to: url)
        #expect(throws: AnalysisError.self) { try Evaluation(contentsOf: url) }
    }

    /// Both evaluation files share one writer and one reader: the bytes returned are the bytes written, each
    /// reads back equal, and each names itself and its command when the file is not one.
    @Test func bothEvaluationFilesWriteAndReadTheSameWay() throws {
        let table = try AnalysisNearestNeighbourTests.randomTable(seed: 5, rows: 24, featureCount: 3, labels: ["x", "y"])
        let evaluation = try CrossValidation(neighbourCount: 3, foldCount: 3, seed: 2).evaluate(table)
        let heldOut = HeldOutEvaluation(
            neighbourCount: 3, testDirectory: "test", rowCount: evaluation.rowCount, trainingRowCount: 30,
            report: evaluation.report, misclassified: evaluation.misclassified, failed: [], notes: ["n"], version: "v")
        let folder = URL(fileURLWithPath: try makeScratchFolder("ff-eval-files"))
        defer { try? FileManager.default.removeItem(at: folder) }

        let first = folder.appendingPathComponent(Evaluation.fileName)
        let written = try evaluation.writeReturningJSON(to: first)
        #expect(try Data(contentsOf: first) == Data(written))
        #expect(written.last == UInt8(ascii: "\n"))
        #expect(try Evaluation(contentsOf: first) == evaluation)
        let second = folder.appendingPathComponent(HeldOutEvaluation.fileName)
        try heldOut.write(to: second)
        #expect(try HeldOutEvaluation(contentsOf: second) == heldOut)
        #expect(try String(contentsOf: second, encoding: .utf8).contains("\"training_row_count\" : 30"))

        for url in [first, second] { try Data("{}".utf8).write(to: url) }
        #expect(throws: AnalysisError.self) { try Evaluation(contentsOf: first) }
        do {
            _ = try Evaluation(contentsOf: first)
        } catch {
            #expect(error.reason.hasPrefix("not an evaluation written by fruitfeatures evaluate: "), "\(error.reason)")
        }
        do {
            _ = try HeldOutEvaluation(contentsOf: second)
            Issue.record("{} read as a held-out evaluation")
        } catch {
            #expect(error.reason.hasPrefix("not a held-out evaluation written by fruitfeatures evaluate --test: "), "\(error.reason)")
        }
        // Parsed but not adding up: the consistency check runs for both.
        var broken = heldOut
        broken.trainingRowCount = 0
        try broken.write(to: second)
        do {
            _ = try HeldOutEvaluation(contentsOf: second)
            Issue.record("an inconsistent held-out evaluation was read")
        } catch {
            #expect(error.reason == "not a valid held-out evaluation (training_row_count 0 is less than 1): run fruitfeatures evaluate --test again")
        }
    }
}

@Suite struct AnalysisMetricsTests {
    struct Golden: Decodable {
        var `true`: [String]
        var predicted: [String]
        var sklearn: KNNGolden.Scores
    }

    @Test func matchesScikitLearnMetrics() throws {
        let golden = try KNNGolden.decoder().decode(
            Golden.self, from: Data(contentsOf: AnalysisFixture.golden.appendingPathComponent("metrics.json")))
        let report = try ClassificationReport(trueLabels: golden.true, predictedLabels: golden.predicted)
        let expected = golden.sklearn
        #expect(report.labels == expected.labels)
        #expect(report.labels.contains("Guava") && report.labels.contains("Fig"))
        #expect(report.confusionMatrix == expected.confusionMatrix)
        #expect(report.sampleCount == golden.true.count)
        #expect(abs(report.accuracy - expected.accuracy) <= 1e-15)
        #expect(report.perLabel.map(\.support) == expected.support)
        for (index, metrics) in report.perLabel.enumerated() {
            #expect(abs(metrics.precision - expected.precision[index]) <= 1e-15, "\(metrics.label)")
            #expect(abs(metrics.recall - expected.recall[index]) <= 1e-15, "\(metrics.label)")
            #expect(abs(metrics.f1 - expected.f1[index]) <= 1e-15, "\(metrics.label)")
            #expect(metrics.predicted == golden.predicted.filter { $0 == metrics.label }.count)
        }
        for (average, reference) in [(report.macroAverage, expected.macro), (report.weightedAverage, expected.weighted)] {
            #expect(abs(average.precision - reference.precision) <= 1e-14)
            #expect(abs(average.recall - reference.recall) <= 1e-14)
            #expect(abs(average.f1 - reference.f1) <= 1e-14)
        }
        let text = report.formatted()
        for label in expected.labels { #expect(text.contains(label)) }
        #expect(text.contains("confusion matrix"))
        let confusions = report.confusions(limit: 3)
        #expect(confusions.count == 3)
        #expect(confusions[0].count >= confusions[1].count && confusions[1].count >= confusions[2].count)
        #expect(confusions.allSatisfy { $0.label != $0.predicted })
    }

    @Test func rejectsMismatchedInput() {
        #expect(throws: AnalysisError.self) { try ClassificationReport(trueLabels: ["a"], predictedLabels: []) }
        #expect(throws: AnalysisError.self) { try ClassificationReport(trueLabels: [], predictedLabels: []) }
        #expect(throws: AnalysisError.self) { try ClassificationReport(trueLabels: ["a"], predictedLabels: ["b"], labels: ["a"]) }
    }
}
