import Foundation
import Testing
@testable import FruitFeatures
#if canImport(Glibc)
import Glibc
#endif

/// A photo tree and the outputs of an uninterrupted run over it, made once and shared.
struct ResumeScenario: Sendable {
    let input: String
    let reference: String
    let found: Int

    /// 90 photos: enough batches to kill a run at several points.
    static let shared = make(count: 90)
    /// 12 photos, for the disk-full runs.
    static let small = make(count: 12)

    static func make(count imageCount: Int) -> Result<ResumeScenario, ErrorBox> {
        do {
            let input = try Reliability.photoTree(count: imageCount)
            let reference = try makeScratchFolder("ff-reference") + "/out"
            let run = try Reliability.extract(input, reference, ["--jobs", "2", "--batch-size", "4"])
            guard run.status == 0 else { return .failure(ErrorBox(text: "reference run failed: \(run.standardError)")) }
            return .success(ResumeScenario(input: input, reference: reference, found: imageCount))
        } catch {
            return .failure(ErrorBox(text: "\(error)"))
        }
    }

    static func get() throws -> ResumeScenario { try shared.get() }

    /// Checks that `output` holds a complete run identical to the reference (summary.json timings aside).
    func expectIdentical(_ output: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(Reliability.listing(output) == ["errors.csv", "features.csv", "features.parquet", "pca.h5",
                                                "raw_features.parquet", "summary.json"], sourceLocation: sourceLocation)
        let expected = try Reliability.outputs(reference)
        let actual = try Reliability.outputs(output)
        for name in Reliability.comparedFiles {
            #expect(actual[name] == expected[name], "\(name) differs from the uninterrupted run", sourceLocation: sourceLocation)
        }
        #expect(try Reliability.samePCAModel(output + "/pca.h5", reference + "/pca.h5"), sourceLocation: sourceLocation)
    }
}

struct ErrorBox: Error, CustomStringConvertible {
    var text: String
    var description: String { text }
}

/// `extract --resume` after SIGKILL at several moments, clean stops on SIGINT/SIGTERM, and refusals.
@Suite struct ReliabilityResumeTests {
    /// The valid records of a journal, as bytes.
    static func validJournal(_ output: String) throws -> Data {
        let path = Reliability.journal(output)
        guard let reader = try CheckpointJournalReader(path: path, featureCount: 1280) else { return Data() }
        while (try? reader.next()) != nil {}
        return try Data(contentsOf: URL(fileURLWithPath: path)).prefix(reader.offset)
    }

    /// Entries in the valid records of a journal.
    static func journalEntries(_ output: String) throws -> Int {
        guard let reader = try CheckpointJournalReader(path: Reliability.journal(output), featureCount: 1280) else { return 0 }
        var count = 0
        while let record = try? reader.next() { count += record.entries.count }
        return count
    }

    @Test func killedAtSeveralPointsAndResumedGivesTheUninterruptedOutputs() throws {
        let scenario = try ResumeScenario.get()
        let output = try makeScratchFolder("ff-killed") + "/out"
        let journal = Reliability.journal(output)
        // A record holds one batch: ~5 KiB of features per image.
        let fullJournal = scenario.found * 1280 * 4

        enum KillPoint: CustomStringConvertible {
            case atOnce, journalBytes(Int), finalOutputWritten
            var description: String {
                switch self {
                case .atOnce: "at once"
                case .journalBytes(let bytes): "journal at \(bytes) bytes"
                case .finalOutputWritten: "after raw_features.parquet"
                }
            }
        }
        // Each step resumes what the previous one left, with other jobs/batch settings.
        let steps: [(KillPoint, [String])] = [
            (.atOnce, ["--jobs", "1", "--batch-size", "3"]),
            (.journalBytes(1), ["--jobs", "2", "--batch-size", "5"]),
            (.journalBytes(fullJournal * 2 / 5), ["--jobs", "1", "--batch-size", "2"]),
            (.journalBytes(fullJournal * 4 / 5), ["--jobs", "2", "--batch-size", "7"]),
            (.finalOutputWritten, ["--jobs", "2", "--batch-size", "4"]),
        ]
        var previous = Data()
        for (point, settings) in steps {
            let child = try SpawnedCommand(Reliability.extractArguments(scenario.input, output, settings + ["--resume"]))
            switch point {
            case .atOnce:
                break
            case .journalBytes(let bytes):
                let target = max(bytes, previous.count + 1)
                #expect(Reliability.wait(for: child) { Reliability.size(journal) >= target }, "\(point)")
            case .finalOutputWritten:
                // Written into the new generation, before it is published.
                #expect(Reliability.wait(for: child) {
                    let generations = output + "/" + RunGenerations.generationsName
                    return ((try? FileManager.default.contentsOfDirectory(atPath: generations)) ?? []).contains {
                        FileManager.default.fileExists(atPath: generations + "/" + $0 + "/" + ExtractionOutput.rawFeaturesParquet)
                    }
                }, "\(point)")
            }
            child.send(SIGKILL)
            let exit = child.finish()
            #expect(exit.signal == SIGKILL, "\(point): the run ended before it was killed: \(exit.standardError)")
            #expect(!FileManager.default.fileExists(atPath: output + "/summary.json"), "\(point)")

            // Finished work is never rewritten: the journal only grows.
            let current = try Self.validJournal(output)
            #expect(current.prefix(previous.count) == previous, "\(point): the checkpoint was rewritten")
            #expect(current.count >= previous.count, "\(point)")
            previous = current
        }
        #expect(try Self.journalEntries(output) == scenario.found, "the last kill came after the network pass")

        // A torn record at the end (as a crash mid-write leaves) is cut off.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: journal))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0x00, 0x40, 0x00, 0x00, 0x12, 0x34, 0x56, 0x78, 1, 2, 3]))
        try handle.close()

        let last = try Reliability.extract(scenario.input, output, ["--resume", "--jobs", "2", "--batch-size", "4"])
        #expect(last.status == 0, "\(last.standardError)")
        try scenario.expectIdentical(output)
        #expect(try Reliability.summary(output).images.resumed == scenario.found)
    }

    @Test(arguments: [(SIGINT, 1, Int32(130)), (SIGTERM, 1, Int32(143)), (SIGINT, 2, Int32(130))])
    func aSignalStopsCleanlyAndResumeFinishes(signal: Int32, times: Int, status: Int32) throws {
        let scenario = try ResumeScenario.get()
        let output = try makeScratchFolder("ff-signal") + "/out"
        let child = try SpawnedCommand(
            Reliability.extractArguments(scenario.input, output, ["--jobs", "2", "--batch-size", "3"]))
        #expect(Reliability.wait(for: child) { (try? Self.journalEntries(output)) ?? 0 > 0 })
        for _ in 0..<times {
            child.send(signal)
            usleep(20_000)
        }
        let exit = child.finish(seconds: 60)
        #expect(exit.status == status, "\(exit.standardError)")
        let lines = exit.standardError.split(separator: "\n").map(String.init)
        #expect(lines.first == "fruitfeatures: stopping after the batches in progress (interrupt again to stop at once)")
        let saved = try Self.journalEntries(output)
        #expect(saved > 0 && saved < scenario.found)
        let cleanStop = "fruitfeatures: error: interrupted; \(saved) of \(scenario.found) files are done and saved in "
            + "\(output)/\(ExtractionOutput.checkpoint): run the same command with --resume to finish"
        if times == 1 {
            #expect(lines.last == cleanStop)
        } else {
            // Usually the second signal lands while a batch is still running; if the clean stop won the race, fine too.
            #expect(lines.last == "fruitfeatures: stopped" || lines.last == cleanStop, "\(lines)")
        }
        // Nothing but the checkpoint: no final file, no temporary.
        #expect(Reliability.listing(output) == [ExtractionOutput.checkpoint])

        let refused = try Reliability.extract(scenario.input, output)
        #expect(refused.status == 1)
        #expect(refused.standardError == "fruitfeatures: error: output folder \(output) holds an interrupted run "
                + "(use --resume to finish it, or --overwrite to start again)\n")

        let resumed = try Reliability.extract(scenario.input, output, ["--resume"])
        #expect(resumed.status == 0, "\(resumed.standardError)")
        try scenario.expectIdentical(output)
        #expect(try Reliability.summary(output).images.resumed == saved)
    }

    @Test func resumeRefusesACheckpointThatDoesNotMatch() throws {
        let input = try Reliability.photoTree(count: 12)
        let output = try makeScratchFolder("ff-mismatch") + "/out"
        let child = try SpawnedCommand(Reliability.extractArguments(input, output, ["--jobs", "1", "--batch-size", "2"]))
        // A complete record, not just a growing file: SIGKILL can tear a record mid-write.
        #expect(Reliability.wait(for: child) { (try? Self.journalEntries(output)) ?? 0 > 0 })
        child.send(SIGKILL)
        #expect(child.finish().signal == SIGKILL)
        let saved = try Self.journalEntries(output)
        #expect(saved > 0 && saved < 12)

        let glob = try Reliability.extract(input, output, ["--resume", "--glob", "*.jp*g"])
        #expect(glob.status == 1)
        #expect(glob.standardError == "fruitfeatures: error: cannot resume in \(output): the checkpoint does not match "
                + "this run: it was made with --glob '*.jpg', not '*.jp*g'\n")

        let otherWeights = FixturePaths.root.appendingPathComponent("weights/variants/keras3_whole_model.h5").path
        let weights = try CommandRunner.run(
            ["extract", input, "-o", output, "--weights", otherWeights, "--no-progress", "--resume"])
        #expect(weights.status == 1)
        #expect(weights.standardError.contains("it was made with other weights"))

        let sameFolder = (input as NSString).deletingLastPathComponent
        let otherSpelling = try CommandRunner.run(
            ["extract", "photos", "-o", output, "--weights", Reliability.weights, "--no-progress", "--resume"],
            directory: sameFolder)
        #expect(otherSpelling.status == 1)
        #expect(otherSpelling.standardError.contains("it was made from the input '\(input)', not 'photos'"))

        // A finished image removed: its features would be in the outputs, so the checkpoint is refused.
        let first = "\(input)/Apple/img_0000.jpg"
        let moved = first + ".moved"
        try FileManager.default.moveItem(atPath: first, toPath: moved)
        let changed = try Reliability.extract(input, output, ["--resume"])
        #expect(changed.status == 1)
        #expect(changed.standardError == "fruitfeatures: error: cannot resume in \(output): the input has changed since the "
                + "checkpoint: found \(input)/Apple/img_0003.jpg where \(first) was\n")
        try FileManager.default.moveItem(atPath: moved, toPath: first)

        // Files added after the finished part are simply processed.
        try FileManager.default.copyItem(atPath: first, toPath: "\(input)/Lemon/zz_new.jpg")
        let resumed = try Reliability.extract(input, output, ["--resume"])
        #expect(resumed.status == 0, "\(resumed.standardError)")
        let rows = try CSVTable.read(output + "/features.csv")
        #expect(rows.count == 1 + 13)
        #expect(rows.last?.first == "\(input)/Lemon/zz_new.jpg")

        let complete = try Reliability.extract(input, output, ["--resume"])
        #expect(complete.status == 1)
        #expect(complete.standardError == "fruitfeatures: error: cannot resume in \(output): it holds a complete run "
                + "(summary.json); there is nothing to resume\n")
        let both = try Reliability.extract(input, output, ["--resume", "--overwrite"])
        #expect(both.status == 64)
        #expect(both.standardError.contains("give --resume or --overwrite, not both"))

        // --resume into a new folder simply runs.
        let fresh = try makeScratchFolder("ff-fresh") + "/out"
        let freshRun = try Reliability.extract(input, fresh, ["--resume"])
        #expect(freshRun.status == 0, "\(freshRun.standardError)")
        #expect(try Reliability.summary(fresh).images.resumed == nil)
    }

    @Test func aFolderInUseIsRefused() throws {
        let input = try Reliability.photoTree(count: 3)
        let output = try makeScratchFolder("ff-locked")
        let descriptor = open(output, O_RDONLY | O_DIRECTORY)
        defer { close(descriptor) }
        #expect(flock(descriptor, LOCK_EX | LOCK_NB) == 0)
        let run = try Reliability.extract(input, output)
        #expect(run.status == 1)
        #expect(run.standardError == "fruitfeatures: error: output folder \(output) is in use by another fruitfeatures run\n")
        #expect(Reliability.listing(output).isEmpty)
    }
}
