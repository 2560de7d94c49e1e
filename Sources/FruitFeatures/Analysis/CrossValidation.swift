import Foundation

/// k-nearest-neighbour accuracy estimated by stratified k-fold cross-validation: each fold in turn is classified by
/// a ``NearestNeighbourClassifier`` trained on the other folds, and all predictions are scored together.
public struct CrossValidation: Sendable, Equatable {
    /// k of k-NN: how many neighbours vote.
    public var neighbourCount: Int
    /// How many folds the rows are split into.
    public var foldCount: Int
    /// The seed of the fold shuffle.
    public var seed: UInt64

    /// Settings for an evaluation (5 neighbours, 5 folds, seed 0 by default).
    public init(neighbourCount: Int = 5, foldCount: Int = 5, seed: UInt64 = 0) {
        self.neighbourCount = neighbourCount
        self.foldCount = foldCount
        self.seed = seed
    }

    /// Splits `table` into stratified folds (``StratifiedFolds``) and evaluates on them.
    ///
    /// - Throws: ``AnalysisError`` for fewer than 2 folds or 1 neighbour, or fewer rows than folds.
    public func evaluate(_ table: FeatureTable) throws(AnalysisError) -> Evaluation {
        let folds = try StratifiedFolds(labels: table.labels, foldCount: foldCount, seed: seed)
        return try evaluate(table, folds: folds, seed: seed)
    }

    /// As ``evaluate(_:)``, keeping rows with the same content key (the SHA-256 of the image's bytes, one per row;
    /// nil when unknown) in the same fold (``StratifiedFolds/init(labels:foldCount:seed:keepingTogether:)``), so an
    /// exact copy never votes for its original.
    public func evaluate(_ table: FeatureTable, keepingTogether keys: [String?]) throws(AnalysisError) -> Evaluation {
        let folds = try StratifiedFolds(labels: table.labels, foldCount: foldCount, seed: seed, keepingTogether: keys)
        var evaluation = try evaluate(table, folds: folds, seed: seed)
        var seen: [String: Int] = [:]
        for key in keys.compactMap({ $0 }) { seen[key, default: 0] += 1 }
        let copies = seen.values.filter { $0 > 1 }
        if !copies.isEmpty {
            evaluation.notes.append(
                "\(copies.reduce(0, +)) images in \(copies.count) groups of identical bytes were kept in one fold per group")
        }
        return evaluation
    }

    /// Evaluates on a given fold assignment (its fold count replaces ``foldCount``).
    func evaluate(_ table: FeatureTable, folds: StratifiedFolds) throws(AnalysisError) -> Evaluation {
        try evaluate(table, folds: folds, seed: nil)
    }

    /// The label each row gets from the classifier trained on the other folds.
    ///
    /// - Throws: ``AnalysisError/Kind/invalidArgument`` when the assignment's length is not the table's row count.
    func predictedLabels(_ table: FeatureTable, folds: StratifiedFolds) throws(AnalysisError) -> [String] {
        guard folds.assignment.count == table.rowCount else {
            throw AnalysisError(.invalidArgument,
                                reason: "a fold assignment of \(folds.assignment.count) rows for a table of \(table.rowCount)")
        }
        var predicted = [String](repeating: "", count: table.rowCount)
        for fold in 0..<folds.foldCount {
            let testRows = folds.testRows(of: fold)
            let trainingRows = folds.trainingRows(of: fold)
            guard !testRows.isEmpty else { continue }
            guard !trainingRows.isEmpty else {
                throw AnalysisError(.insufficientData, reason: "fold \(fold) leaves no rows to train on")
            }
            let classifier = try NearestNeighbourClassifier(training: table.subset(trainingRows), neighbourCount: neighbourCount)
            let labels = try classifier.predictedLabels(for: table.subset(testRows))
            for (row, label) in zip(testRows, labels) { predicted[row] = label }
        }
        return predicted
    }

    private func evaluate(_ table: FeatureTable, folds: StratifiedFolds, seed: UInt64?) throws(AnalysisError) -> Evaluation {
        guard neighbourCount >= 1 else {
            throw AnalysisError(.invalidArgument, reason: "the number of neighbours must be at least 1, not \(neighbourCount)")
        }
        let predicted = try predictedLabels(table, folds: folds)
        let report = try ClassificationReport(trueLabels: table.labels, predictedLabels: predicted,
                                              labels: table.distinctLabels)
        var foldAccuracies: [Double] = []
        var smallestTraining = Int.max
        for fold in 0..<folds.foldCount {
            let rows = folds.testRows(of: fold)
            let correct = rows.filter { table.labels[$0] == predicted[$0] }.count
            foldAccuracies.append(rows.isEmpty ? 0 : Double(correct) / Double(rows.count))
            smallestTraining = min(smallestTraining, table.rowCount - rows.count)
        }
        var notes: [String] = []
        if smallestTraining < neighbourCount {
            notes.append("a training split has only \(smallestTraining) rows: fewer than \(neighbourCount) neighbours voted there")
        }
        let sparse = table.labelCounts.filter { $0.count < folds.foldCount }
        if !sparse.isEmpty {
            notes.append("labels with fewer rows than folds (absent from some folds): "
                         + sparse.map { "\($0.label) (\($0.count))" }.joined(separator: ", "))
        }
        let misclassified = (0..<table.rowCount).filter { table.labels[$0] != predicted[$0] }.map {
            Evaluation.Misclassification(path: table.paths[$0], label: table.labels[$0], predicted: predicted[$0])
        }
        return Evaluation(
            neighbourCount: neighbourCount, foldCount: folds.foldCount, seed: seed, rowCount: table.rowCount,
            featureCount: table.featureCount, report: report, foldAccuracies: foldAccuracies,
            misclassified: misclassified, notes: notes, version: fruitFeaturesVersion)
    }
}

/// The result of a ``CrossValidation``: scores, settings and the misclassified rows; saved as `evaluation.json`.
public struct Evaluation: Sendable, Equatable, Codable {
    /// A row whose predicted label is wrong.
    public struct Misclassification: Sendable, Equatable, Codable {
        /// The image path.
        public var path: String
        /// Its true label.
        public var label: String
        /// The label it was given.
        public var predicted: String

        /// Creates a record of one mistake.
        public init(path: String, label: String, predicted: String) {
            self.path = path
            self.label = label
            self.predicted = predicted
        }
    }

    /// k of k-NN.
    public var neighbourCount: Int
    /// The number of folds.
    public var foldCount: Int
    /// The seed of the fold shuffle; nil when the folds were given.
    public var seed: UInt64?
    /// The number of rows evaluated.
    public var rowCount: Int
    /// Features per row.
    public var featureCount: Int
    /// The scores over all folds' predictions together.
    public var report: ClassificationReport
    /// The accuracy on each fold.
    public var foldAccuracies: [Double]
    /// Every wrongly predicted row, in table order.
    public var misclassified: [Misclassification]
    /// Caveats about the estimate (tiny folds, rare labels).
    public var notes: [String]
    /// The FruitFeatures version that computed it.
    public var version: String

    /// Creates an evaluation from its parts.
    public init(
        neighbourCount: Int, foldCount: Int, seed: UInt64?, rowCount: Int, featureCount: Int, report: ClassificationReport,
        foldAccuracies: [Double], misclassified: [Misclassification], notes: [String], version: String
    ) {
        self.neighbourCount = neighbourCount
        self.foldCount = foldCount
        self.seed = seed
        self.rowCount = rowCount
        self.featureCount = featureCount
        self.report = report
        self.foldAccuracies = foldAccuracies
        self.misclassified = misclassified
        self.notes = notes
        self.version = version
    }

    /// The usual name of the file in an output folder.
    public static let fileName = "evaluation.json"

    /// Writes the evaluation as pretty-printed JSON with snake_case keys, atomically.
    public func write(to url: URL) throws(AnalysisError) {
        try writeReturningJSON(to: url)
    }

    /// Reads an evaluation written by ``write(to:)``.
    public init(contentsOf url: URL) throws(AnalysisError) {
        try self.init(evaluationFileAt: url)
    }

    /// Why the parts do not fit together as ``CrossValidation`` makes them, or nil when they do: counts
    /// within range and summing without overflow, one confusion-matrix row and column and one score per
    /// label, every share a finite number in [0, 1]. The reason names the field as the file spells it.
    public var inconsistency: String? {
        guard neighbourCount >= 1 else { return "neighbour_count \(neighbourCount) is less than 1" }
        guard foldCount >= 2 else { return "fold_count \(foldCount) is less than 2" }
        guard featureCount >= 1 else { return "feature_count \(featureCount) is less than 1" }
        if let problem = report.inconsistency { return problem }
        guard rowCount == report.sampleCount else {
            return "row_count \(rowCount) is not report.sample_count \(report.sampleCount)"
        }
        guard misclassified.count <= rowCount else { return "misclassified lists more rows than row_count \(rowCount)" }
        if let index = foldAccuracies.firstIndex(where: { !($0.isFinite && $0 >= 0 && $0 <= 1) }) {
            return "fold_accuracies[\(index)] \(foldAccuracies[index]) is a score outside [0, 1]"
        }
        return nil
    }

    /// A plain-text summary: settings, accuracy per fold and the ``ClassificationReport/formatted(matrixLabelLimit:)`` table.
    public func formatted() -> String {
        let accuracies = foldAccuracies.map { String(format: "%.4f", $0) }.joined(separator: " ")
        let mean = foldAccuracies.reduce(0, +) / Double(max(foldAccuracies.count, 1))
        let deviation = (foldAccuracies.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(foldAccuracies.count, 1))).squareRoot()
        var lines = [
            "\(neighbourCount)-nearest-neighbour classification of \(rowCount) rows (\(featureCount) features), "
                + "stratified \(foldCount)-fold cross-validation" + (seed.map { " (seed \($0))" } ?? ""),
            String(format: "accuracy %.4f (%d of %d); ", report.accuracy, rowCount - misclassified.count, rowCount)
                + "per fold: \(accuracies) " + String(format: "(mean %.4f ± %.4f)", mean, deviation),
            "",
            report.formatted(),
        ]
        for note in notes { lines.append("note: \(note)") }
        return lines.joined(separator: "\n")
    }
}

/// Writes `bytes` to `path` through a temporary sibling renamed into place, as `owner` (see ``OutputTarget``).
func writeAtomically(_ bytes: [UInt8], to path: String, owner: OutputOwner) throws(AnalysisError) {
    do {
        let file = try AtomicFile(destination: path, owner: owner)
        try file.write(bytes)
        try file.commit()
    } catch {
        throw AnalysisError(.unwritable, path: path, reason: error.reason)
    }
}
