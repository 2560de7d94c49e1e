import Foundation

/// How well predicted labels match true ones: accuracy, per-label precision, recall and F1, and the confusion matrix.
///
/// The definitions are scikit-learn's (`accuracy_score`, `precision_recall_fscore_support`, `confusion_matrix`):
/// precision = tp / (tp + fp), recall = tp / (tp + fn), F1 = 2·tp / (2·tp + fp + fn), each 0 when its
/// denominator is 0 (scikit-learn's value with `zero_division` left at its default); the macro average is the
/// plain mean over labels and the weighted average weighs each label by its support.
public struct ClassificationReport: Sendable, Equatable, Codable {
    /// The scores of one label.
    public struct LabelMetrics: Sendable, Equatable, Codable {
        /// The label.
        public var label: String
        /// Of the rows predicted as this label, the share that have it.
        public var precision: Double
        /// Of the rows that have this label, the share predicted as it.
        public var recall: Double
        /// The harmonic mean of precision and recall.
        public var f1: Double
        /// The number of rows that have this label.
        public var support: Int
        /// The number of rows predicted as this label.
        public var predicted: Int
    }

    /// Precision, recall and F1 averaged over labels.
    public struct Averages: Sendable, Equatable, Codable {
        /// The averaged precision.
        public var precision: Double
        /// The averaged recall.
        public var recall: Double
        /// The averaged F1.
        public var f1: Double
    }

    /// The labels, sorted; the order of ``perLabel`` and of the confusion matrix's rows and columns.
    public var labels: [String]
    /// `confusionMatrix[t][p]`: the number of rows with label `labels[t]` predicted as `labels[p]`.
    public var confusionMatrix: [[Int]]
    /// The number of rows scored.
    public var sampleCount: Int
    /// The share of rows predicted correctly.
    public var accuracy: Double
    /// The scores of each label, in ``labels`` order.
    public var perLabel: [LabelMetrics]
    /// The unweighted mean of the per-label scores.
    public var macroAverage: Averages
    /// The mean of the per-label scores weighted by support.
    public var weightedAverage: Averages

    /// Scores `predictedLabels` against `trueLabels`, row by row.
    ///
    /// - Parameter labels: the labels to report, in order; by default every label that occurs in either list, sorted.
    /// - Throws: ``AnalysisError/Kind/invalidArgument`` when the lists differ in length or a label is missing from
    ///   `labels`; ``AnalysisError/Kind/insufficientData`` when there are no rows.
    public init(trueLabels: [String], predictedLabels: [String], labels: [String]? = nil) throws(AnalysisError) {
        guard trueLabels.count == predictedLabels.count else {
            throw AnalysisError(.invalidArgument,
                                reason: "\(trueLabels.count) true labels but \(predictedLabels.count) predictions")
        }
        guard !trueLabels.isEmpty else { throw AnalysisError(.insufficientData, reason: "no predictions to score") }
        let labels = labels ?? Set(trueLabels + predictedLabels).sorted(by: FeatureTable.labelOrder)
        var index: [String: Int] = [:]
        for (position, label) in labels.enumerated() { index[label] = position }
        var matrix = [[Int]](repeating: [Int](repeating: 0, count: labels.count), count: labels.count)
        for (truth, prediction) in zip(trueLabels, predictedLabels) {
            guard let t = index[truth], let p = index[prediction] else {
                throw AnalysisError(.invalidArgument,
                                    reason: "label \"\(index[truth] == nil ? truth : prediction)\" is not among the labels reported")
            }
            matrix[t][p] += 1
        }
        var perLabel: [LabelMetrics] = []
        var correct = 0
        for (position, label) in labels.enumerated() {
            let tp = matrix[position][position]
            let support = matrix[position].reduce(0, +)
            let predicted = matrix.reduce(0) { $0 + $1[position] }
            correct += tp
            let (fp, fn) = (predicted - tp, support - tp)
            perLabel.append(LabelMetrics(
                label: label,
                precision: predicted == 0 ? 0 : Double(tp) / Double(predicted),
                recall: support == 0 ? 0 : Double(tp) / Double(support),
                f1: 2 * tp + fp + fn == 0 ? 0 : Double(2 * tp) / Double(2 * tp + fp + fn),
                support: support, predicted: predicted))
        }
        let count = Double(labels.count)
        let totalSupport = Double(trueLabels.count)
        self.labels = labels
        confusionMatrix = matrix
        sampleCount = trueLabels.count
        accuracy = Double(correct) / Double(trueLabels.count)
        self.perLabel = perLabel
        macroAverage = Averages(
            precision: perLabel.reduce(0) { $0 + $1.precision } / count,
            recall: perLabel.reduce(0) { $0 + $1.recall } / count,
            f1: perLabel.reduce(0) { $0 + $1.f1 } / count)
        weightedAverage = Averages(
            precision: perLabel.reduce(0) { $0 + $1.precision * Double($1.support) } / totalSupport,
            recall: perLabel.reduce(0) { $0 + $1.recall * Double($1.support) } / totalSupport,
            f1: perLabel.reduce(0) { $0 + $1.f1 * Double($1.support) } / totalSupport)
    }

    /// The most frequent mistakes: (true label, predicted label, count), most frequent first, then by label order.
    public func confusions(limit: Int = 10) -> [(label: String, predicted: String, count: Int)] {
        var mistakes: [(Int, Int, Int)] = []
        for t in labels.indices {
            for p in labels.indices where t != p && confusionMatrix[t][p] > 0 {
                mistakes.append((t, p, confusionMatrix[t][p]))
            }
        }
        mistakes.sort { a, b in a.2 != b.2 ? a.2 > b.2 : (a.0, a.1) < (b.0, b.1) }
        return mistakes.prefix(max(limit, 0)).map { (labels[$0.0], labels[$0.1], $0.2) }
    }

    /// A plain-text rendering like scikit-learn's `classification_report`, followed by the confusion matrix
    /// (or, for more than `matrixLabelLimit` labels, the most frequent confusions).
    public func formatted(matrixLabelLimit: Int = 20) -> String {
        let width = max(12, labels.map(\.count).max() ?? 0)
        func pad(_ text: String, _ length: Int, left: Bool = false) -> String {
            let padding = String(repeating: " ", count: max(0, length - text.count))
            return left ? text + padding : padding + text
        }
        func number(_ value: Double) -> String { String(format: "%.4f", value) }
        var lines: [String] = []
        lines.append(pad("", width, left: true) + "  precision     recall   f1-score    support")
        for metrics in perLabel {
            lines.append(pad(metrics.label, width, left: true) + pad(number(metrics.precision), 11)
                         + pad(number(metrics.recall), 11) + pad(number(metrics.f1), 11) + pad("\(metrics.support)", 11))
        }
        lines.append("")
        lines.append(pad("accuracy", width, left: true) + pad("", 22) + pad(number(accuracy), 11) + pad("\(sampleCount)", 11))
        for (name, average) in [("macro avg", macroAverage), ("weighted avg", weightedAverage)] {
            lines.append(pad(name, width, left: true) + pad(number(average.precision), 11) + pad(number(average.recall), 11)
                         + pad(number(average.f1), 11) + pad("\(sampleCount)", 11))
        }
        lines.append("")
        if labels.count <= matrixLabelLimit {
            lines.append("confusion matrix (rows: true label, columns: predicted label)")
            let cell = max(6, (confusionMatrix.flatMap { $0 }.max() ?? 0).description.count + 1,
                           labels.map(\.count).max().map { $0 + 1 } ?? 0)
            lines.append(pad("", width, left: true) + labels.map { pad($0, cell) }.joined())
            for (t, label) in labels.enumerated() {
                lines.append(pad(label, width, left: true) + confusionMatrix[t].map { pad("\($0)", cell) }.joined())
            }
        } else {
            let top = confusions()
            lines.append(top.isEmpty ? "no confusions" : "most frequent confusions (true label → predicted label):")
            for confusion in top {
                lines.append("  \(confusion.label) → \(confusion.predicted): \(confusion.count)")
            }
        }
        return lines.joined(separator: "\n")
    }
}

extension ClassificationReport {
    /// Why a report read from a file does not fit together as ``init(trueLabels:predictedLabels:labels:)`` makes
    /// one, or nil when it does: one confusion-matrix row and column and one score per label, counts
    /// non-negative and summing without overflow to ``sampleCount``, every score a finite number in [0, 1]. The
    /// reason names the field as the evaluation files spell it (under `report`).
    package var inconsistency: String? {
        let labelCount = labels.count
        guard labelCount >= 1 else { return "report.labels is empty" }
        guard confusionMatrix.count == labelCount, confusionMatrix.allSatisfy({ $0.count == labelCount }) else {
            return "report.confusion_matrix is not \(labelCount) × \(labelCount), one row and column per label"
        }
        guard perLabel.count == labelCount, zip(perLabel, labels).allSatisfy({ $0.label == $1 }) else {
            return "report.per_label does not follow the \(labelCount) labels"
        }
        var total = 0
        for row in confusionMatrix {
            for count in row {
                guard count >= 0 else { return "report.confusion_matrix holds a negative count" }
                let sum = total.addingReportingOverflow(count)
                guard !sum.overflow else { return "report.confusion_matrix adds up to more than can be counted" }
                total = sum.partialValue
            }
        }
        guard total == sampleCount else {
            return "report.confusion_matrix counts \(total) rows, report.sample_count \(sampleCount)"
        }
        if let index = perLabel.firstIndex(where: { $0.support < 0 || $0.predicted < 0 }) {
            return "report.per_label[\(index)] holds a negative count"
        }
        func outside(_ value: Double) -> Bool { !(value.isFinite && value >= 0 && value <= 1) }
        if outside(accuracy) { return "report.accuracy \(accuracy) is a score outside [0, 1]" }
        for (index, metrics) in perLabel.enumerated() {
            for (name, value) in [("precision", metrics.precision), ("recall", metrics.recall), ("f1", metrics.f1)] where outside(value) {
                return "report.per_label[\(index)].\(name) \(value) is a score outside [0, 1]"
            }
        }
        for (average, scores) in [("macro_average", macroAverage), ("weighted_average", weightedAverage)] {
            for (name, value) in [("precision", scores.precision), ("recall", scores.recall), ("f1", scores.f1)] where outside(value) {
                return "report.\(average).\(name) \(value) is a score outside [0, 1]"
            }
        }
        return nil
    }
}
