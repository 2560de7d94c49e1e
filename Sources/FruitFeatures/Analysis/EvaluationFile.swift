import Foundation

/// An evaluation file of a run (evaluation.json, evaluation_heldout.json): pretty-printed JSON with snake_case keys,
/// written atomically as `evaluate`'s own output, and read back as untrusted input that must add up.
///
/// ``Evaluation`` and ``HeldOutEvaluation`` share their writing and reading through it; each keeps its own public
/// `write(to:)` and `init(contentsOf:)`, which call these.
package protocol EvaluationFile: Codable {
    /// What the file holds, for messages: "evaluation", "held-out evaluation".
    static var contentsName: String { get }
    /// The command that writes it, for messages: "fruitfeatures evaluate".
    static var writingCommand: String { get }
    /// Why the parts do not fit together, or nil when they do.
    var inconsistency: String? { get }
}

extension Evaluation: EvaluationFile {
    package static var contentsName: String { "evaluation" }
    package static var writingCommand: String { "fruitfeatures evaluate" }
}

extension HeldOutEvaluation: EvaluationFile {
    package static var contentsName: String { "held-out evaluation" }
    package static var writingCommand: String { "fruitfeatures evaluate --test" }
}

extension EvaluationFile {
    /// Writes the file (replaced atomically, as `evaluate`'s own output) and returns the bytes written (for
    /// `evaluate --json`, which prints them without reading the file back).
    @discardableResult
    package func writeReturningJSON(to url: URL) throws(AnalysisError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let data: Data
        do {
            data = try encoder.encode(self)
        } catch {
            throw AnalysisError(.unwritable, path: url.path, reason: "cannot encode the evaluation: \(error)")
        }
        let bytes = Array(data) + [UInt8(ascii: "\n")]
        try writeAtomically(bytes, to: url.path, owner: .evaluation)
        return bytes
    }

    /// Reads a file written by ``writeReturningJSON(to:)``, within the JSON size limit, and checks that it adds up.
    init(evaluationFileAt url: URL) throws(AnalysisError) {
        let bytes = try readFileContents(atPath: url.path, limit: FileSizeLimit.json)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let article = Self.contentsName.first.map { "aeiou".contains($0) } == true ? "an" : "a"
        let notOurs = "not \(article) \(Self.contentsName) written by \(Self.writingCommand)"
        do {
            self = try decoder.decode(Self.self, from: Data(bytes))
        } catch let error as DecodingError {
            let integers = [
                "neighbour_count", "fold_count", "row_count", "training_row_count", "feature_count",
                "report.sample_count", "report.confusion_matrix[*][*]", "report.per_label[*].support",
                "report.per_label[*].predicted",
            ]
            let problem = misfitIntegerField(in: Data(bytes), among: integers) ?? error.fieldDescription()
            throw AnalysisError(.malformed, path: url.path, reason: "\(notOurs): \(problem)")
        } catch {
            throw AnalysisError(.malformed, path: url.path, reason: "\(notOurs): \(error)")
        }
        // The file is ours, but anyone can edit it: what is shown must add up, or it is not shown.
        if let problem = inconsistency {
            throw AnalysisError(
                .malformed, path: url.path,
                reason: "not a valid \(Self.contentsName) (\(problem)): run \(Self.writingCommand) again")
        }
    }
}
