import Foundation

/// k-nearest-neighbour accuracy on photos kept out of the extraction (a test folder, label = parent folder),
/// each answered by a ``FruitRecognizer`` exactly as `predict` answers it; saved as `evaluation_heldout.json`.
///
/// This is the honest number when the extracted folder holds near-copies of one another: Fruits-360's
/// `Training` and `Test` folders hold alternating frames of the same videos, so a random k-fold over
/// `Training` puts near-identical frames on both sides of every split and overstates accuracy, while the
/// `Test` folder measures recognition of frames the features never saw.
public struct HeldOutEvaluation: Sendable, Equatable, Codable {
    /// k of k-NN.
    public var neighbourCount: Int
    /// The folder of test photos, as given.
    public var testDirectory: String
    /// Photos answered.
    public var rowCount: Int
    /// Rows of the output folder the photos were compared with.
    public var trainingRowCount: Int
    /// The scores.
    public var report: ClassificationReport
    /// Every wrongly answered photo, in path order.
    public var misclassified: [Evaluation.Misclassification]
    /// Test photos that could not be answered, and why.
    public var failed: [FailedImage]
    /// Caveats, such as test labels the output folder has no images of.
    public var notes: [String]
    /// The FruitFeatures version that computed it.
    public var version: String

    /// The usual name of the file in an output folder.
    public static let fileName = "evaluation_heldout.json"

    /// Answers every image of `source` with `recognizer` (on every core) and scores the answers against the
    /// images' labels.
    ///
    /// - Throws: ``AnalysisError/Kind/insufficientData`` when no test photo could be answered.
    public static func evaluate(
        recognizer: FruitRecognizer, source: some ImageSource, testDirectory: String, trainingLabels: [String],
        trainingRowCount: Int
    ) throws(AnalysisError) -> HeldOutEvaluation {
        var images: [ImageFile] = []
        var failed: [FailedImage] = []
        for entry in source {
            switch entry {
            case .image(let image): images.append(image)
            case .problem(let problem): failed.append(FailedImage(path: problem.path, reason: problem.reasonText))
            }
        }
        let answers = HeldOutAnswers(count: images.count)
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, images.count))
        let list = images
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for index in stride(from: worker, to: list.count, by: workers) {
                do {
                    let bytes = try source.contents(of: list[index])
                    answers.labels[index] = try recognizer.recognize(encodedPhoto: bytes, name: list[index].path, labelCount: 1).label
                } catch let error as AnalysisError {
                    answers.errors[index] = error.reason
                } catch {
                    answers.errors[index] = error.reasonText
                }
            }
        }
        var trueLabels: [String] = []
        var predicted: [String] = []
        var misclassified: [Evaluation.Misclassification] = []
        for (index, image) in images.enumerated() {
            guard let label = answers.labels[index] else {
                failed.append(FailedImage(path: image.path, reason: answers.errors[index] ?? "no answer"))
                continue
            }
            trueLabels.append(image.label)
            predicted.append(label)
            if label != image.label {
                misclassified.append(Evaluation.Misclassification(path: image.path, label: image.label, predicted: label))
            }
        }
        guard !trueLabels.isEmpty else {
            throw AnalysisError(.insufficientData, path: testDirectory,
                                reason: "none of the \(images.count + failed.count) test files could be answered")
        }
        let known = Set(trainingLabels)
        let labels = Set(trueLabels).union(known).sorted(by: FeatureTable.labelOrder)
        let report = try ClassificationReport(trueLabels: trueLabels, predictedLabels: predicted, labels: labels)
        var notes: [String] = []
        let unknown = Set(trueLabels).subtracting(known).sorted(by: FeatureTable.labelOrder)
        if !unknown.isEmpty {
            notes.append("test labels with no images in the output folder (always misclassified): " + unknown.joined(separator: ", "))
        }
        if !failed.isEmpty { notes.append("\(failed.count) test files could not be answered") }
        return HeldOutEvaluation(
            neighbourCount: recognizer.classifier.neighbourCount, testDirectory: testDirectory, rowCount: trueLabels.count,
            trainingRowCount: trainingRowCount, report: report, misclassified: misclassified, failed: failed,
            notes: notes, version: fruitFeaturesVersion)
    }

    /// Writes the evaluation as pretty-printed JSON with snake_case keys, atomically.
    public func write(to url: URL) throws(AnalysisError) {
        try writeReturningJSON(to: url)
    }

    /// Reads an evaluation written by ``write(to:)``.
    public init(contentsOf url: URL) throws(AnalysisError) {
        try self.init(evaluationFileAt: url)
    }

    /// Why the parts do not fit together as ``evaluate(recognizer:source:testDirectory:trainingLabels:trainingRowCount:)``
    /// makes them, or nil when they do (the report's checks are ``ClassificationReport``'s). The reason names the
    /// field as the file spells it.
    package var inconsistency: String? {
        guard neighbourCount >= 1 else { return "neighbour_count \(neighbourCount) is less than 1" }
        guard trainingRowCount >= 1 else { return "training_row_count \(trainingRowCount) is less than 1" }
        guard testDirectory.utf8.count <= SummaryLimits.pathBytes else {
            return "test_directory is \(testDirectory.utf8.count) bytes long, more than \(SummaryLimits.pathBytes)"
        }
        if let problem = report.inconsistency { return problem }
        guard rowCount == report.sampleCount else {
            return "row_count \(rowCount) is not report.sample_count \(report.sampleCount)"
        }
        guard misclassified.count <= rowCount else { return "misclassified lists more rows than row_count \(rowCount)" }
        return nil
    }

    /// Creates an evaluation from its parts.
    public init(
        neighbourCount: Int, testDirectory: String, rowCount: Int, trainingRowCount: Int, report: ClassificationReport,
        misclassified: [Evaluation.Misclassification], failed: [FailedImage], notes: [String], version: String
    ) {
        self.neighbourCount = neighbourCount
        self.testDirectory = testDirectory
        self.rowCount = rowCount
        self.trainingRowCount = trainingRowCount
        self.report = report
        self.misclassified = misclassified
        self.failed = failed
        self.notes = notes
        self.version = version
    }

    /// A plain-text summary and the ``ClassificationReport/formatted(matrixLabelLimit:)`` table.
    public func formatted() -> String {
        var lines = [
            "\(neighbourCount)-nearest-neighbour classification of \(rowCount) held-out photos from \(testDirectory) "
                + "against \(trainingRowCount) extracted images",
            String(format: "accuracy %.4f (%d of %d)", report.accuracy, rowCount - misclassified.count, rowCount),
            "",
            report.formatted(),
        ]
        for note in notes { lines.append("note: \(note)") }
        return lines.joined(separator: "\n")
    }
}

/// The answers of a held-out evaluation: one slot per image, each written by exactly one worker (slots, not an
/// array property, so concurrent writes to different images never touch shared state).
private final class HeldOutAnswers: @unchecked Sendable {
    let labels: UnsafeMutableBufferPointer<String?>
    let errors: UnsafeMutableBufferPointer<String?>

    init(count: Int) {
        labels = .allocate(capacity: count)
        labels.initialize(repeating: nil)
        errors = .allocate(capacity: count)
        errors.initialize(repeating: nil)
    }

    deinit {
        labels.deinitialize()
        labels.deallocate()
        errors.deinitialize()
        errors.deallocate()
    }
}
