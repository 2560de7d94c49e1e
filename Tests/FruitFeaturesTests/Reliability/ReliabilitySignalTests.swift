import Foundation
import Testing
@testable import FruitFeatures
#if canImport(Glibc)
import Glibc
#endif

/// Closed pipes and a kill between the last two steps of a run (Docs/reliability.md, "Signals and pipes").
@Suite struct ReliabilitySignalTests {
    /// Runs `fruitfeatures arguments… | head -c 1` under bash; returns fruitfeatures' exit status and its stderr
    /// (`merged`: stderr goes into the pipe too, as `2>&1 | head` does).
    static func throughHead(_ arguments: [String], merged: Bool) throws -> (status: String, standardError: String) {
        let scratch = try makeScratchFolder("ff-pipe")
        let errors = scratch + "/stderr"
        let redirect = merged ? "2>&1" : "2>\"$ERRORS\""
        let script = "\"$@\" \(redirect) | head -c 1 >/dev/null; echo \"${PIPESTATUS[0]}\""
        let result = try CommandRunner.run(
            executable: "/bin/bash", ["-c", script, "bash", CommandRunner.executable] + arguments,
            environment: ["ERRORS": errors])
        let standardError = (try? String(contentsOfFile: errors, encoding: .utf8)) ?? ""
        return (result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines), standardError)
    }

    @Test func aClosedPipeDoesNotKillARun() throws {
        let input = try Reliability.photoTree(count: 12)
        let scratch = try makeScratchFolder("ff-sigpipe")
        #expect(try Reliability.extract(input, scratch + "/reference").status == 0)
        // Progress on (no --no-progress): the first line fills `head`, every later one meets a closed pipe.
        let arguments = ["extract", input, "--output", scratch + "/out", "--weights", Reliability.weights,
                         "--components", "6", "--batch-size", "1", "--jobs", "1"]
        let (status, _) = try Self.throughHead(arguments, merged: true)
        #expect(status == "0")
        #expect(Reliability.listing(scratch + "/out").contains("summary.json"))
        #expect(try Reliability.outputs(scratch + "/out") == (try Reliability.outputs(scratch + "/reference")))
    }

    @Test func stdoutProductsStopQuietlyWhenTheReaderGoesAway() async throws {
        let run = try await AnalysisFixture.extract(componentCount: 3)
        let photo = try #require(run.photo("Apple/0_100.jpg"))
        // A photo with a long path, asked for many times: far more output than a pipe holds.
        var folder = try makeScratchFolder("ff-longpath")
        for _ in 0..<12 {
            folder += "/" + String(repeating: "d", count: 250)
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        // (FileManager.copyItem silently copies nothing at this depth on Linux: the bytes are written instead.)
        try Data(contentsOf: URL(fileURLWithPath: photo)).write(to: URL(fileURLWithPath: folder + "/photo.jpg"))
        #expect(Reliability.size(folder + "/photo.jpg") > 0)
        let photos = [String](repeating: folder + "/photo.jpg", count: 40)
        for arguments in [["predict"] + photos + ["--model", run.directory.path],
                          ["predict"] + photos + ["--model", run.directory.path, "--json"],
                          ["transform"] + photos + ["--model", run.directory.path]] {
            let (status, standardError) = try Self.throughHead(arguments, merged: false)
            #expect(status == "0", "\(arguments[0]): \(standardError)")
            #expect(standardError.isEmpty, "\(arguments[0]): \(standardError)")
        }
    }

    @Test func aKillBetweenSummaryAndCheckpointRemovalLeavesACompleteRun() throws {
        let input = try Reliability.photoTree(count: 24)
        let scratch = try makeScratchFolder("ff-lastkill")
        // A real checkpoint of this input: a run killed after its first journal record.
        let killed = scratch + "/killed"
        let child = try SpawnedCommand(Reliability.extractArguments(input, killed, ["--jobs", "1", "--batch-size", "1"]))
        #expect(Reliability.wait(for: child) { Reliability.size(Reliability.journal(killed)) > 0 })
        child.send(SIGKILL)
        _ = child.finish()
        let checkpoint = killed + "/" + ExtractionOutput.checkpoint
        #expect(FileManager.default.fileExists(atPath: checkpoint))

        // The complete run, as a SIGKILL right after summary.json would leave it: the checkpoint still there.
        let complete = scratch + "/complete"
        #expect(try Reliability.extract(input, complete).status == 0)
        let outputs = try Reliability.outputs(complete)
        let summary = try Data(contentsOf: URL(fileURLWithPath: complete + "/summary.json"))
        // What the run leaves just before its checkpoint goes: the checkpoint, naming the generation that completes
        // it (written before that generation was published).
        let current = (RunGenerations(directory: complete).currentGeneration as NSString).lastPathComponent
        func leaveCheckpoint(completed: Bool = true) throws {
            let target = complete + "/" + ExtractionOutput.checkpoint
            try? FileManager.default.removeItem(atPath: target)
            try FileManager.default.copyItem(atPath: checkpoint, toPath: target)
            if completed {
                try Data(current.utf8).write(to: URL(fileURLWithPath: target + "/" + ExtractionCheckpoint.completionName))
            }
        }

        // Without that mark the checkpoint is a newer, interrupted run beside the complete one (an interrupted
        // --overwrite): it is kept and named as such.
        try leaveCheckpoint(completed: false)
        let interrupted = try Reliability.extract(input, complete)
        #expect(interrupted.status == 1)
        #expect(interrupted.standardError.contains("holds an interrupted run"), "\(interrupted.standardError)")
        #expect(Reliability.listing(complete).contains(ExtractionOutput.checkpoint))

        // A plain re-run sees a complete run, not an interrupted one.
        try leaveCheckpoint()
        let again = try Reliability.extract(input, complete)
        #expect(again.status == 1)
        #expect(again.standardError.contains("exists and is not empty"), "\(again.standardError)")
        #expect(!again.standardError.contains("interrupted"))

        // --resume finds nothing to resume, and neither deletes nor recomputes the outputs.
        try leaveCheckpoint()
        let resume = try Reliability.extract(input, complete, ["--resume"])
        #expect(resume.status == 1)
        #expect(resume.standardError.contains("it holds a complete run (summary.json); there is nothing to resume"),
                "\(resume.standardError)")
        #expect(try Reliability.outputs(complete) == outputs)
        #expect(try Data(contentsOf: URL(fileURLWithPath: complete + "/summary.json")) == summary)
        // The leftover checkpoint is gone: the folder is what a complete run leaves.
        #expect(!Reliability.listing(complete).contains(ExtractionOutput.checkpoint))
    }
}
