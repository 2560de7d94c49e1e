import ArgumentParser
import Foundation
import FruitFeatures

/// `fruitfeatures evaluate OUT_DIR`: cross-validated k-nearest-neighbour accuracy of the PCA features, or, with
/// `--test DIR`, accuracy on held-out photos.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Estimate k-nearest-neighbour accuracy on the PCA features by stratified k-fold cross-validation.",
        discussion: """
            Reads OUT_DIR/features.csv, prints accuracy, per-label precision, recall and F1 and the confusion \
            matrix, and writes them to OUT_DIR/evaluation.json (which `fruitfeatures report` then shows). Images \
            with identical bytes (raw_features.parquet's sha256) are kept in one fold.

            With --test DIR, every photo under DIR (label = parent folder) is answered through OUT_DIR's model as \
            `predict` answers it, and the scores go to OUT_DIR/evaluation_heldout.json: the honest number when the \
            extracted photos include near-copies of one another (Fruits-360's frames of one video).
            """)

    @Argument(help: ArgumentHelp("An output folder of fruitfeatures extract.", valueName: "out-dir"))
    var outputDirectory: String

    @Option(name: .customLong("neighbors"), help: "k: how many nearest images vote.")
    var neighbours: Int = 5

    @Option(help: "How many folds to split the images into.")
    var folds: Int = 5

    @Option(help: "The seed of the fold shuffle.")
    var seed: UInt64 = 0

    @Option(help: ArgumentHelp("Score the photos under this folder (label = parent folder) instead of cross-validating.",
                               valueName: "dir"))
    var test: String?

    @Option(help: "With --test: the Keras .h5 weights (default: the run's, then $FRUITFEATURES_WEIGHTS, the Keras cache).")
    var weights: String?

    @Option(help: ArgumentHelp("Where to write the JSON (default: OUT_DIR/evaluation.json or evaluation_heldout.json).",
                               valueName: "file"))
    var output: String?

    @Flag(help: "Print the JSON instead of the table.")
    var json = false

    func validate() throws {
        guard neighbours >= 1 else { throw ValidationError("--neighbors must be at least 1") }
        guard folds >= 2 else { throw ValidationError("--folds must be at least 2") }
        if weights != nil && test == nil { throw ValidationError("--weights goes with --test") }
    }

    func run() throws {
        do {
            let run = try ExtractionRun(directory: URL(fileURLWithPath: outputDirectory))
            if let test {
                try evaluateHeldOut(run, test: test)
                return
            }
            let features = try run.readFeatures()
            let keys = try run.contentKeys(of: features.paths)
            let evaluation = try CrossValidation(neighbourCount: neighbours, foldCount: folds, seed: seed)
                .evaluate(features, keepingTogether: keys)
            var destination = output.map { URL(fileURLWithPath: $0) } ?? run.evaluationFile
            let written = try evaluation.writeReturningJSON(to: destination)
            // Written into the run's generation: it goes with the run when the run is replaced.
            if output == nil { destination = try run.linkDerivedFile(Evaluation.fileName) }
            if json {
                print(String(decoding: written, as: UTF8.self), terminator: "")
            } else {
                print(evaluation.formatted())
                print("\nwrote \(DisplayText.escaped(destination.path))")
            }
        } catch let failure as CLIFailure {
            throw failure
        } catch {
            throw CLIFailure("\(error)", code: .fatal)
        }
    }

    private func evaluateHeldOut(_ run: ExtractionRun, test: String) throws {
        let recognizer = try FruitRecognizer(
            contentsOf: run.directory, weights: weights.map { URL(fileURLWithPath: $0) }, neighbourCount: neighbours)
        let glob = (try run.readSummary())?.settings.glob ?? "*.jpg"
        let source = try DirectoryImageSource(root: test, pattern: try GlobPattern(glob))
        let training = recognizer.classifier.training
        let evaluation = try HeldOutEvaluation.evaluate(
            recognizer: recognizer, source: source, testDirectory: test, trainingLabels: training.labels,
            trainingRowCount: training.rowCount)
        for failure in evaluation.failed { writeToStandardError("fruitfeatures: \(failure.path): \(failure.reason)\n") }
        var destination = output.map { URL(fileURLWithPath: $0) } ?? run.heldOutEvaluationFile
        let written = try evaluation.writeReturningJSON(to: destination)
        // Written into the run's generation: it goes with the run when the run is replaced.
        if output == nil { destination = try run.linkDerivedFile(HeldOutEvaluation.fileName) }
        if json {
            print(String(decoding: written, as: UTF8.self), terminator: "")
        } else {
            print(evaluation.formatted())
            print("\nwrote \(destination.path)")
        }
    }
}
