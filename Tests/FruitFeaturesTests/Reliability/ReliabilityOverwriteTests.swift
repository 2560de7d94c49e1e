import Foundation
import Testing
@testable import FruitFeatures

/// `extract --overwrite` builds the new run beside the old one and swaps it in only when complete; derived files go
/// with their run; only folders holding runs of ours are written into.
@Suite struct ReliabilityOverwriteTests {
    /// A finished run with an evaluation and a report, and what a reader sees of it.
    struct FinishedRun {
        var input: String
        var output: String
        var outputs: [String: Data]
        var summary: Data
    }

    static func finishedRun() throws -> FinishedRun {
        let input = try Reliability.photoTree(count: 9)
        let output = try makeScratchFolder("ff-overwrite") + "/out"
        let first = try Reliability.extract(input, output)
        #expect(first.status == 0, "\(first.standardError)")
        #expect(try CommandRunner.run(["evaluate", output, "--folds", "2", "--neighbors", "1"]).status == 0)
        #expect(try CommandRunner.run(["report", output]).status == 0)
        return FinishedRun(
            input: input, output: output, outputs: try Reliability.outputs(output),
            summary: try Data(contentsOf: URL(fileURLWithPath: output + "/summary.json")))
    }

    /// The old run is still there, complete, derived files included.
    static func expectIntact(_ run: FinishedRun, _ context: String) throws {
        #expect(try Reliability.outputs(run.output) == run.outputs, "\(context)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: run.output + "/summary.json")) == run.summary, "\(context)")
        #expect(FileManager.default.fileExists(atPath: run.output + "/evaluation.json"), "\(context)")
        #expect(FileManager.default.fileExists(atPath: run.output + "/report.html"), "\(context)")
        let opened = try ExtractionRun(directory: URL(fileURLWithPath: run.output))
        #expect(try opened.readEvaluation() != nil, "\(context)")
    }

    @Test func aFailedOverwriteLeavesTheOldRunIntact() throws {
        let run = try Self.finishedRun()
        let noImages = try Reliability.extract(run.input, run.output, ["--overwrite", "--glob", "*.jpeg"])
        #expect(noImages.status == 1)
        #expect(noImages.standardError.contains("no images matching '*.jpeg'"))
        try Self.expectIntact(run, "no images")

        let empty = try makeScratchFolder("ff-empty-input")
        let emptyInput = try Reliability.extract(empty, run.output, ["--overwrite"])
        #expect(emptyInput.status == 1)
        try Self.expectIntact(run, "empty input")

        let tooMany = try Reliability.extract(run.input, run.output, ["--overwrite", "--components", "5000"])
        #expect(tooMany.status == 1)
        #expect(tooMany.standardError.contains("PCA"))
        try Self.expectIntact(run, "--components 5000")
        // The unfinished generation is gone; the checkpoint of the failed run is what is left of it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: run.output + "/.generations").count == 1)
    }

    @Test func aCrashDuringAnOverwriteLeavesTheOldRunThenResumeReplacesIt() throws {
        let run = try Self.finishedRun()
        let child = try SpawnedCommand(Reliability.extractArguments(run.input, run.output, ["--overwrite", "--components", "3", "--jobs", "1", "--batch-size", "1"]))
        #expect(Reliability.wait(for: child) { Reliability.size(Reliability.journal(run.output)) > 0 })
        child.send(SIGKILL)
        #expect(child.finish().signal == SIGKILL)
        try Self.expectIntact(run, "killed")

        let resumed = try Reliability.extract(run.input, run.output, ["--resume", "--components", "3"])
        #expect(resumed.status == 0, "\(resumed.standardError)")
        #expect(try Reliability.summary(run.output).pca.components == 3)
        // The old run's evaluation and report went with it.
        #expect(!FileManager.default.fileExists(atPath: run.output + "/evaluation.json"))
        #expect(!FileManager.default.fileExists(atPath: run.output + "/report.html"))
        #expect(try ExtractionRun(directory: URL(fileURLWithPath: run.output)).readEvaluation() == nil)
    }

    @Test func aSuccessfulOverwriteSwapsTheWholeRun() throws {
        let run = try Self.finishedRun()
        let before = try ExtractionRun(directory: URL(fileURLWithPath: run.output))
        let replaced = try Reliability.extract(run.input, run.output, ["--overwrite", "--components", "3", "--format", "parquet"])
        #expect(replaced.status == 0, "\(replaced.standardError)")
        #expect(try Reliability.summary(run.output).pca.components == 3)
        // Files of the old run the new one does not have (features.csv: Parquet only) and derived files are gone.
        #expect(Reliability.listing(run.output) == ["errors.csv", "features.parquet", "pca.h5", "raw_features.parquet", "summary.json"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: run.output + "/.generations").count == 1)
        // A reader that opened the old run before the swap keeps to its generation: it finds it gone, never a mix.
        #expect(throws: AnalysisError.self) { try before.readPCAModel() }
        let after = try ExtractionRun(directory: URL(fileURLWithPath: run.output))
        #expect(try after.readPCAModel().componentCount == 3)
    }

    @Test func onlyFoldersHoldingRunsOfOursAreOverwritten() throws {
        let input = try Reliability.photoTree(count: 9)
        // Someone else's folder: refused, untouched.
        let foreign = try makeScratchFolder("ff-foreign")
        try Data("mine".utf8).write(to: URL(fileURLWithPath: foreign + "/notes.txt"))
        let refused = try Reliability.extract(input, foreign, ["--overwrite"])
        #expect(refused.status == 1)
        #expect(refused.standardError == "fruitfeatures: error: output folder \(foreign) holds files that are not a FruitFeatures run (notes.txt); choose an empty or new folder\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: foreign) == ["notes.txt"])

        // A run of ours with a file of the user's beside it: overwritten, the user's file kept.
        let output = try makeScratchFolder("ff-ours") + "/out"
        #expect(try Reliability.extract(input, output).status == 0)
        try Data("mine".utf8).write(to: URL(fileURLWithPath: output + "/notes.txt"))
        let again = try Reliability.extract(input, output, ["--overwrite"])
        #expect(again.status == 0, "\(again.standardError)")
        #expect(try String(contentsOfFile: output + "/notes.txt", encoding: .utf8) == "mine")
    }

    @Test func aRunWrittenBeforeGenerationsIsReadAndReplaced() throws {
        let input = try Reliability.photoTree(count: 9)
        let output = try makeScratchFolder("ff-legacy") + "/out"
        #expect(try Reliability.extract(input, output).status == 0)
        let expected = try Reliability.outputs(output)
        // The flat layout of earlier versions: the files themselves in OUT, no marker, no generations.
        let generation = try ExtractionRun(directory: URL(fileURLWithPath: output)).generationDirectory.path
        for name in Reliability.listing(output) {
            try FileManager.default.removeItem(atPath: output + "/" + name)
            try FileManager.default.moveItem(atPath: generation + "/" + name, toPath: output + "/" + name)
        }
        for name in [RunGenerations.markerName, RunGenerations.currentName, RunGenerations.generationsName] {
            try FileManager.default.removeItem(atPath: output + "/" + name)
        }
        let legacy = try ExtractionRun(directory: URL(fileURLWithPath: output))
        #expect(legacy.generationDirectory.path == output)
        #expect(try legacy.readFeatures().rowCount == 9)
        #expect(try CommandRunner.run(["evaluate", output, "--folds", "2", "--neighbors", "1"]).status == 0)

        let replaced = try Reliability.extract(input, output, ["--overwrite"])
        #expect(replaced.status == 0, "\(replaced.standardError)")
        #expect(try Reliability.outputs(output) == expected)
        #expect(!FileManager.default.fileExists(atPath: output + "/evaluation.json"))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: output + "/features.csv") == "current/features.csv")
    }
}
