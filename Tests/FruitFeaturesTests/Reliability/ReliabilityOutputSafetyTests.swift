import Foundation
import Testing
@testable import FruitFeatures
#if canImport(Glibc)
import Glibc
#endif

/// A small tmpfs, mounted for one test (root only; the tests that need one are skipped elsewhere).
final class ScratchTmpfs {
    let path: String

    /// Mounts a tmpfs of `bytes` bytes; nil when mounting is not permitted.
    init?(bytes: Int, readOnly: Bool = false) {
        guard let folder = try? makeScratchFolder("ff-tmpfs") else { return nil }
        path = folder
        // MS_RDONLY = 1 (sys/mount.h).
        guard mount("tmpfs", folder, "tmpfs", readOnly ? 1 : 0, "size=\(bytes),mode=0777") == 0 else {
            rmdir(folder)
            return nil
        }
    }

    /// Changes the size in place (MS_REMOUNT = 32).
    func resize(bytes: Int) -> Bool {
        mount("tmpfs", path, "tmpfs", 32, "size=\(bytes)") == 0
    }

    deinit {
        umount2(path, Int32(MNT_DETACH))
        rmdir(path)
    }

    static let isAvailable: Bool = ScratchTmpfs(bytes: 1 << 16) != nil
}

/// An output folder that cannot be written, a full disk and a file-size limit: a clear one-line error,
/// no partial final file, and the finished work kept for `--resume`.
@Suite struct ReliabilityOutputSafetyTests {
    static let finalFiles = ["errors.csv", "features.csv", "features.parquet", "pca.h5", "raw_features.parquet", "summary.json"]

    /// Every final file present is complete (identical to the uninterrupted run's); no temporary is left.
    static func expectOnlyCompleteFiles(_ output: String, _ scenario: ResumeScenario, _ context: String) throws {
        let names = Reliability.listing(output)
        for name in names {
            if name == ExtractionOutput.checkpoint { continue }
            #expect(finalFiles.contains(name), "\(context): unexpected \(name)")
            #expect(name != "summary.json", "\(context): a failed run must not claim to be complete")
            if Reliability.comparedFiles.contains(name) {
                #expect(try Data(contentsOf: URL(fileURLWithPath: output + "/" + name))
                        == Data(contentsOf: URL(fileURLWithPath: scenario.reference + "/" + name)), "\(context): \(name) is partial")
            } else if name == "pca.h5" {
                #expect(try Reliability.samePCAModel(output + "/pca.h5", scenario.reference + "/pca.h5"), "\(context)")
            }
        }
    }

    @Test func anOutputFolderThatCannotBeCreatedIsAClearError() throws {
        let input = try Reliability.photoTree(count: 3)
        let scratch = try makeScratchFolder()
        #expect(FileManager.default.createFile(atPath: scratch + "/file", contents: Data("x".utf8)))
        let run = try Reliability.extract(input, scratch + "/file/out")
        #expect(run.status == 1)
        #expect(run.standardError == "fruitfeatures: error: cannot write to output folder \(scratch)/file/out: Not a directory\n")
        let onFile = try Reliability.extract(input, scratch + "/file")
        #expect(onFile.status == 1)
        #expect(onFile.standardError == "fruitfeatures: error: cannot write to output folder \(scratch)/file: it is a file\n")
    }

    /// Read-only: a read-only tmpfs as root (root ignores permissions), a mode-555 folder otherwise.
    @Test(.enabled(if: geteuid() != 0 || ScratchTmpfs.isAvailable, "root without mount permission cannot make a read-only folder"))
    func aReadOnlyOutputFolderIsAClearError() throws {
        let input = try Reliability.photoTree(count: 3)
        let mounted = geteuid() == 0 ? ScratchTmpfs(bytes: 1 << 20, readOnly: true) : nil
        let folder: String
        if let mounted {
            folder = mounted.path
        } else {
            folder = try makeScratchFolder()
            chmod(folder, 0o555)
        }
        let expectedReason = mounted != nil ? "Read-only file system" : "Permission denied"
        for output in [folder, folder + "/out"] {
            let run = try Reliability.extract(input, output)
            #expect(run.status == 1)
            #expect(run.standardError == "fruitfeatures: error: cannot write to output folder \(output): \(expectedReason)\n")
        }
        #expect(Reliability.listing(folder).isEmpty)
        withExtendedLifetime(mounted) {}
    }

    /// Disks of several sizes fill up at every stage: each failure is one clear line, leaves only
    /// complete files, and the checkpoint lets `--resume` finish once there is room.
    @Test(.enabled(if: ScratchTmpfs.isAvailable)) func aFullDiskFailsCleanlyAndResumeFinishes() throws {
        let scenario = try ResumeScenario.small.get()
        let total = Reliability.listing(scenario.reference).reduce(0) { $0 + Reliability.size(scenario.reference + "/" + $1) }
        // The journal holds ~5 KiB per image besides.
        let journal = scenario.found * 1280 * 4
        var stages: Set<String> = []
        for fraction in [0.05, 0.3, 0.6, 0.75, 0.9, 3.0] {
            let size = Int(Double(total + journal) * fraction) / 4096 * 4096 + 4096
            let disk = try #require(ScratchTmpfs(bytes: size))
            let output = disk.path + "/out"
            let run = try Reliability.extract(scenario.input, output, ["--jobs", "1", "--batch-size", "2"])
            let context = "disk of \(size) bytes"
            if run.status == 0 {
                stages.insert("complete")
                try scenario.expectIdentical(output)
                continue
            }
            #expect(run.status == 1, "\(context): \(run.standardError)")
            // One line; libhdf5's own message names errno, the read-back check of pca.h5 says what it suspects.
            #expect(run.standardError.hasPrefix("fruitfeatures: error: ") && run.standardError.filter { $0 == "\n" }.count == 1
                    && (run.standardError.contains("No space left on device") || run.standardError.contains("(is the disk full?)")),
                    "\(context): \(run.standardError)")
            try Self.expectOnlyCompleteFiles(output, scenario, context)
            let listing = Reliability.listing(output)
            // Final outputs are written into a new generation (published only when complete): a failure there names it.
            #expect(!listing.contains("raw_features.parquet"), "\(context): an unfinished run was published")
            stages.insert(run.standardError.contains("/\(RunGenerations.generationsName)/") ? "after the network pass" : "during the network pass")
            #expect(listing.contains(ExtractionOutput.checkpoint), "\(context): the finished work is gone")

            #expect(disk.resize(bytes: 16 << 20))
            let resumed = try Reliability.extract(scenario.input, output, ["--resume"])
            #expect(resumed.status == 0, "\(context): \(resumed.standardError)")
            try scenario.expectIdentical(output)
        }
        #expect(stages == ["during the network pass", "after the network pass", "complete"], "\(stages)")
    }

    /// 64 blocks: 32 KiB (dash counts 512-byte blocks) or 64 KiB (bash): less than the journal needs.
    static let fileSizeLimited = ["/bin/sh", "-c", "ulimit -f 64 && exec \"$0\" \"$@\""]

    /// ThreadSanitizer's runtime dies at start under such a limit, before any of our code runs.
    static let fileSizeLimitIsUsable: Bool = {
        (try? SpawnedCommand(["--version"], prefix: fileSizeLimited).finish(seconds: 60).status) == 0
    }()

    /// A file-size limit (`ulimit -f`, any user): EFBIG names the file instead of SIGXFSZ killing the run.
    @Test(.enabled(if: fileSizeLimitIsUsable, "the executable cannot start under ulimit -f (ThreadSanitizer runtime)"))
    func aFileSizeLimitFailsCleanlyAndResumeFinishes() throws {
        let scenario = try ResumeScenario.small.get()
        let output = try makeScratchFolder("ff-fsize") + "/out"
        let limited = Self.fileSizeLimited
        let run = try Reliability.extract(scenario.input, output, ["--jobs", "1", "--batch-size", "2"], prefix: limited)
        #expect(run.signal == nil, "killed by signal \(run.signal ?? 0)")
        #expect(run.status == 1)
        #expect(run.standardError == "fruitfeatures: error: \(Reliability.journal(output)): cannot write the checkpoint "
                + "journal: File too large\n")
        #expect(Reliability.listing(output) == [ExtractionOutput.checkpoint])
        let saved = try ReliabilityResumeTests.journalEntries(output)
        #expect(saved > 0 && saved < scenario.found)

        let resumed = try Reliability.extract(scenario.input, output, ["--resume"])
        #expect(resumed.status == 0, "\(resumed.standardError)")
        try scenario.expectIdentical(output)
        #expect(try Reliability.summary(output).images.resumed == saved)
    }
}
