import ArgumentParser
import Foundation
import FruitFeatures

/// `fruitfeatures evaluate OUT_DIR`: cross-validated k-nearest-neighbour accuracy of the PCA features.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Estimate k-nearest-neighbour accuracy on the PCA features by stratified k-fold cross-validation.",
        discussion: """
            Reads OUT_DIR/features.csv, prints accuracy, per-label precision, recall and F1 and the confusion \
            matrix, and writes them to OUT_DIR/evaluation.json (which `fruitfeatures report` then shows).
            """)

    @Argument(help: ArgumentHelp("An output folder of fruitfeatures extract.", valueName: "out-dir"))
    var outputDirectory: String

    @Option(name: .customLong("neighbors"), help: "k: how many nearest images vote.")
    var neighbours: Int = 5

    @Option(help: "How many folds to split the images into.")
    var folds: Int = 5

    @Option(help: "The seed of the fold shuffle.")
    var seed: UInt64 = 0

    @Option(help: ArgumentHelp("Where to write the JSON (default: OUT_DIR/evaluation.json).", valueName: "file"))
    var output: String?

    @Flag(help: "Print the JSON instead of the table.")
    var json = false

    func validate() throws {
        guard neighbours >= 1 else { throw ValidationError("--neighbors must be at least 1") }
        guard folds >= 2 else { throw ValidationError("--folds must be at least 2") }
    }

    func run() throws {
        do {
            let run = try ExtractionRun(directory: URL(fileURLWithPath: outputDirectory))
            let features = try run.readFeatures()
            let evaluation = try CrossValidation(neighbourCount: neighbours, foldCount: folds, seed: seed).evaluate(features)
            var destination = output.map { URL(fileURLWithPath: $0) } ?? run.evaluationFile
            try evaluation.write(to: destination)
            // Written into the run's generation: it goes with the run when the run is replaced.
            if output == nil { destination = try run.linkDerivedFile(Evaluation.fileName) }
            if json {
                print(try String(contentsOf: destination, encoding: .utf8), terminator: "")
            } else {
                print(evaluation.formatted())
                print("\nwrote \(destination.path)")
            }
        } catch {
            throw CLIFailure("\(error)", code: .fatal)
        }
    }
}
