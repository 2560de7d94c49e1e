import Foundation
import Testing
@testable import FruitFeatures

/// Sizes read from a file or typed as an option are checked before anything is allocated for them
/// (Docs/reliability.md, "Sizes from files and options").
@Suite struct ReliabilitySizeLimitTests {
    /// A file of Fixtures/hdf5/hostile (made by Scripts/make_hdf5_hostile.py).
    static func hostile(_ name: String) -> URL {
        FixturePaths.root.appendingPathComponent("hdf5/hostile/" + name)
    }

    /// Runs `fruitfeatures arguments…` under a deadline and checks that it ended by itself, not by a signal
    /// or a Swift runtime trap, with one line on stderr when it failed.
    static func run(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> SpawnedCommand.Exit {
        let exit = try SpawnedCommand(arguments).finish(seconds: 300, sourceLocation: sourceLocation)
        #expect(exit.signal == nil, "killed by signal \(exit.signal ?? 0): \(exit.standardError)", sourceLocation: sourceLocation)
        #expect(!exit.standardError.contains("Fatal error"), "\(exit.standardError)", sourceLocation: sourceLocation)
        if exit.status != 0 {
            #expect(exit.standardError.hasPrefix("fruitfeatures: error: ") || exit.standardError.hasPrefix("Error: "),
                    "\(exit.standardError)", sourceLocation: sourceLocation)
            #expect(exit.standardError.filter { $0 == "\n" }.count == 1, "\(exit.standardError)", sourceLocation: sourceLocation)
        }
        return exit
    }

    @Test func declaredShapesAreCheckedBeforeReading() throws {
        // A kernel declaring (3, 3, 3, 2^40) in a file of 13 KB.
        #expect {
            try KerasWeightsFile(contentsOf: Self.hostile("weights_huge_kernel.h5")).mobileNetV2Weights()
        } throws: { error in
            guard let error = error as? WeightsError, case .hdf5(let hdf5) = error.reason,
                  case .tooLarge(let shape, _, let limit) = hdf5.reason else { return false }
            return shape == [3, 3, 3, 1 << 40] && limit == HDF5Dataset.defaultByteLimit
                && error.description.contains("weights_huge_kernel.h5") && error.description.contains("above the limit")
        }
        // A dataset of 16 values whose chunk declares 2^24 of them (libhdf5 allocates whole chunks).
        #expect {
            try KerasWeightsFile(contentsOf: Self.hostile("weights_huge_chunk.h5")).mobileNetV2Weights()
        } throws: { error in
            guard let error = error as? WeightsError, case .hdf5(let hdf5) = error.reason,
                  case .tooLarge(let shape, _, _) = hdf5.reason else { return false }
            return shape == [3, 3, 3, 1 << 24]
        }
        // PCA: components declaring (2^40, 1280) against k = 6; k itself 2^40; a huge chunk.
        #expect {
            try PCAModel(contentsOf: Self.hostile("pca_huge_components.h5"))
        } throws: { error in
            guard case .invalidModel(let reason)? = error as? PCAError else { return false }
            return reason.contains("components has shape [1099511627776, 1280], expected [6, 1280]")
        }
        #expect {
            try PCAModel(contentsOf: Self.hostile("pca_huge_k.h5"))
        } throws: { error in
            guard case .invalidModel(let reason)? = error as? PCAError else { return false }
            return reason.contains("k = 1099511627776 components of dimension 1280")
        }
        #expect {
            try PCAModel(contentsOf: Self.hostile("pca_huge_chunk.h5"))
        } throws: { error in
            guard case .file(_, let reason)? = error as? PCAError else { return false }
            return reason.contains("declares shape [4194304, 37]") && reason.contains("above the limit")
        }
        // The seeds themselves read.
        let seed = try PCAModel(contentsOf: Self.hostile("pca_seed.h5"))
        #expect(seed.componentCount == 6 && seed.dimension == 37)
        #expect(try PCAModel(contentsOf: Self.hostile("pca_chunked_seed.h5")).componentCount == 6)
    }

    @Test func linksOutOfTheFileAreRefused() throws {
        #expect {
            try KerasWeightsFile(contentsOf: Self.hostile("weights_external_kernel.h5"))
        } throws: { error in
            guard let error = error as? WeightsError, case .hdf5(let hdf5) = error.reason,
                  case .linkLeavesFile(let link) = hdf5.reason else { return false }
            return hdf5.object == "/Conv1/Conv1/kernel" && link.contains("weights_huge_kernel.h5:/Conv1/Conv1/kernel")
        }
        #expect {
            try PCAModel(contentsOf: Self.hostile("pca_external_components.h5"))
        } throws: { error in
            guard case .file(let path, let reason)? = error as? PCAError else { return false }
            // The path is named once: in the error's own field, not again inside the reason.
            return path.hasSuffix("pca_external_components.h5") && !reason.contains(path)
                && reason.contains("/components: an external link to pca_huge_components.h5:/components")
        }
        // A soft link stays inside the file: followed (the file then lacks the other MobileNetV2 layers).
        #expect {
            try KerasWeightsFile(contentsOf: Self.hostile("weights_soft_kernel.h5")).mobileNetV2Weights()
        } throws: { error in
            guard case .missingLayers? = (error as? WeightsError)?.reason else { return false }
            return true
        }
        #expect {
            try KerasWeightsFile(contentsOf: Self.hostile("weights_soft_dangling.h5")).mobileNetV2Weights()
        } throws: { error in
            guard case .missingWeight("Conv1/kernel")? = (error as? WeightsError)?.reason else { return false }
            return true
        }
    }

    @Test func everyCommandRefusesHugeDeclarationsWithOneLine() async throws {
        let run = try await AnalysisFixture.extract(componentCount: 3)
        let out = run.directory.path
        let photo = try #require(run.photo("Apple/0_100.jpg"))
        let input = (photo as NSString).deletingLastPathComponent + "/.."
        for weights in ["weights_huge_kernel.h5", "weights_external_kernel.h5"] {
            let path = Self.hostile(weights).path
            let inspect = try Self.run(["inspect", path])
            #expect(inspect.status == 1)
            #expect(inspect.standardError.contains(path))
            let scratch = try makeScratchFolder("ff-size")
            let extract = try Self.run(["extract", input, "--output", scratch + "/out", "--weights", path, "--no-progress"])
            #expect(extract.status == 1)
            #expect(extract.standardError.contains(path))
            #expect(!FileManager.default.fileExists(atPath: scratch + "/out"))
        }
        // The run's pca.h5 in its current generation (OUT/pca.h5 is a link to it).
        let pcaPath = try ExtractionRun(directory: run.directory).pcaModelFile.path
        let original = try Data(contentsOf: URL(fileURLWithPath: pcaPath))
        for hostile in ["pca_huge_components.h5", "pca_huge_k.h5", "pca_external_components.h5"] {
            try FileManager.default.removeItem(atPath: pcaPath)
            try FileManager.default.copyItem(atPath: Self.hostile(hostile).path, toPath: pcaPath)
            for arguments in [["predict", photo, "--model", out], ["transform", photo, "--model", out], ["report", out]] {
                let result = try Self.run(arguments)
                #expect(result.status == 1, "\(arguments[0]) with \(hostile)")
                // One line naming pca.h5 once.
                #expect(result.standardError.components(separatedBy: pcaPath).count == 2, "\(result.standardError)")
            }
        }
        try original.write(to: URL(fileURLWithPath: pcaPath))
        #expect(try Self.run(["report", out]).status == 0)
    }

    @Test func aBatchBeyondMemoryIsAUsageErrorBeforeAnythingIsTouched() throws {
        let input = try Reliability.photoTree(count: 9)
        let scratch = try makeScratchFolder("ff-batch")
        for (option, value) in [("--batch-size", "1000000"), ("--batch-size", "9223372036854775807"),
                                ("--jobs", "9223372036854775807")] {
            let result = try Self.run(Reliability.extractArguments(input, scratch + "/new", [option, value]))
            #expect(result.status == 64, "\(option) \(value): \(result.standardError)")
            #expect(result.standardError.contains("the limit is"), "\(result.standardError)")
            #expect(!FileManager.default.fileExists(atPath: scratch + "/new"))
        }
        // Over a finished run with --overwrite: the run is untouched.
        let finished = scratch + "/finished"
        #expect(try Reliability.extract(input, finished).status == 0)
        let before = try Reliability.outputs(finished)
        let result = try Self.run(Reliability.extractArguments(input, finished, ["--overwrite", "--batch-size", "1000000"]))
        #expect(result.status == 64)
        #expect(try Reliability.outputs(finished) == before)
        #expect(Reliability.listing(finished).contains("summary.json"))
    }

    @Test func batchMemoryArithmeticNeverOverflows() throws {
        var settings = ExtractionSettings()
        settings.jobs = 3
        settings.batchSize = 10
        let memory = BatchMemory(settings: settings, inputCount: 150_528, featureCount: 1280)
        #expect(memory.totalBytes == 4 * 10 * (150_528 + 1280) * 4)
        #expect(memory.largestBatchSize(within: memory.totalBytes!) == 10)
        try memory.check(budget: memory.totalBytes!)
        #expect(throws: ExtractionError.self) { try memory.check(budget: memory.totalBytes! - 1) }
        settings.batchSize = .max
        #expect(BatchMemory(settings: settings, inputCount: 150_528, featureCount: 1280).totalBytes == nil)
        settings.batchSize = 1
        settings.jobs = .max
        let jobs = BatchMemory(settings: settings, inputCount: 150_528, featureCount: 1280)
        #expect(jobs.totalBytes == nil)
        #expect {
            try jobs.check(budget: 1 << 30)
        } throws: { error in
            guard case .invalidSettings(let why)? = error as? ExtractionError else { return false }
            return why.contains("more memory than can be counted") && why.contains("the limit is 1.1 GB")
        }
    }

    @Test func controlGroupLimitFilesAreReadToTheEndWithinASmallCap() throws {
        let folder = try makeScratchFolder("ff-cgroup")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        func file(_ name: String, _ text: String) throws -> String {
            let path = folder + "/" + name
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            return path
        }
        typealias Limit = BatchMemory.MemoryLimit
        let number = try file("number", "1073741824\n")
        let unlimited = try file("max", "max\n")
        let garbage = try file("garbage", "12 MiB\n")
        let empty = try file("empty", "")
        let negative = try file("negative", "-5\n")
        let overflow = try file("overflow", "99999999999999999999\n")
        // Longer than any number: refused by the cap, not parsed.
        let long = try file("long", String(repeating: "1", count: 65))
        let fifo = folder + "/fifo"
        try ReliabilityFileSafetyTests.makeFIFO(fifo)
        let missing = folder + "/missing"

        #expect(Limit(contentsOfFile: number) == .bytes(1 << 30))
        #expect(Limit(contentsOfFile: unlimited) == .unlimited)
        for path in [garbage, empty, negative, overflow, long, missing] {
            #expect(Limit(contentsOfFile: path) == .unknown, "\(path)")
        }
        // A FIFO (no writer) must be refused at once, not waited on.
        let fifoLimit = ReliabilityFileSafetyTests.withinDeadline(releasing: fifo) { Limit(contentsOfFile: fifo) }
        #expect(fifoLimit == .unknown)

        let machine = BatchMemory.budget(limitFiles: [])
        #expect(machine > 0)
        #expect(BatchMemory.budget(limitFiles: [number]) == min(machine, 1 << 29))
        #expect(BatchMemory.budget(limitFiles: [unlimited, garbage, empty, missing, fifo]) == machine)
        #expect(BatchMemory.budget(limitFiles: [try file("small", "4096\n"), number]) == 2048)
    }

    /// A sysfs file reports st_size 4096 for a few bytes: read with its reported size ignored, it is read whole
    /// within a 64-byte cap; trusted, that size is over the cap.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/sys/devices/system/cpu/online")))
    func aKernelPseudoFileIsReadToItsEndWhateverItsReportedSize() throws {
        let path = "/sys/devices/system/cpu/online"
        let expected = try Data(contentsOf: URL(fileURLWithPath: path))
        let reported = try SystemCalls.status(atPath: path, followingLinks: true).size
        try #require(reported > 64 && expected.count < 64, "st_size \(reported), \(expected.count) bytes")
        #expect(try readRegularFile(atPath: path, limit: 64, reportedSize: .ignored) == Array(expected))
        #expect(throws: FileProblem(path, .tooLarge(size: reported, limit: 64))) {
            try readRegularFile(atPath: path, limit: 64)
        }
    }

    @Test(.enabled(if: BatchMemory.controlGroupLimitFiles.contains { FileManager.default.fileExists(atPath: $0) }))
    func theMachinesOwnControlGroupLimitParses() throws {
        // cgroupfs reports st_size 4096 or 0 whatever the contents: the reader must not go by it. Foundation reads
        // the file here, to the end, independently of the library.
        var checked = 0
        for path in BatchMemory.controlGroupLimitFiles {
            guard let text = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines),
                  text == "max" || (Int(text) ?? 0) > 0 else { continue }
            let expected: BatchMemory.MemoryLimit = text == "max" ? .unlimited : .bytes(Int(text)!)
            #expect(BatchMemory.MemoryLimit(contentsOfFile: path) == expected, "\(path): \(text)")
            checked += 1
        }
        #expect(checked > 0, "no limit file held a number or max")
    }

    @Test func countOptionsNeverTrap() async throws {
        let run = try await AnalysisFixture.extract(componentCount: 3)
        let out = run.directory.path
        let photo = try #require(run.photo("Apple/0_100.jpg"))
        let huge = "9223372036854775807"
        let elsewhere = try makeScratchFolder("ff-counts")
        let cases: [[String]] = [
            ["predict", photo, "--model", out, "--top", huge],
            ["predict", photo, "--model", out, "--neighbors", huge],
            ["evaluate", out, "--neighbors", huge, "--output", elsewhere + "/e1.json"],
            ["evaluate", out, "--folds", huge, "--output", elsewhere + "/e2.json"],
            ["report", out, "--max-points", huge, "--output", elsewhere + "/r.html"],
        ]
        for arguments in cases {
            let result = try Self.run(arguments)
            #expect([0, 1, 64].contains(result.status), "\(arguments): \(result.standardError)")
        }
        // --components beyond the feature count: refused when the weights load, before the output folder exists.
        let scratch = try makeScratchFolder("ff-components")
        let input = (photo as NSString).deletingLastPathComponent + "/.."
        for components in ["5000", huge] {
            let result = try Self.run(["extract", input, "--output", scratch + "/out", "--weights", AnalysisFixture.weights.path,
                                       "--components", components, "--no-progress"])
            #expect(result.status == 1)
            #expect(result.standardError.contains("components requested but the data has only 1280 dimensions"), "\(result.standardError)")
            #expect(!FileManager.default.fileExists(atPath: scratch + "/out"))
        }
    }
}
