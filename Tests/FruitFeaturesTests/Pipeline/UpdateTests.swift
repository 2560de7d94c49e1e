import Foundation
import Testing
@testable import FruitFeatures
#if canImport(Glibc)
import Glibc
#endif

/// Content identity, duplicates and label conflicts, and `extract --update`, run as a user runs them.
@Suite struct UpdateTests {
    static let nearCopies = FixturePaths.root.appendingPathComponent("analysis/near_copies").path
    static let badJPEG = FixturePaths.root.appendingPathComponent("resize/bad/png_named.jpg").path

    static func bytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    static func summary(_ out: String) throws -> ExtractionSummary {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(ExtractionSummary.self, from: Data(contentsOf: URL(fileURLWithPath: out + "/summary.json")))
    }

    /// Every column of a raw_features.parquet or features.parquet, features as bit patterns.
    struct Table: Equatable {
        var paths: [String?]
        var labels: [String?]
        var sha256: [String?]
        var sizes: [Int64?]
        var times: [Int64?]
        var features: [[UInt32]?]

        init(_ file: String) throws {
            let reader = try ParquetFileReader(path: file)
            paths = try reader.strings("path")
            labels = try reader.strings("label")
            sha256 = try reader.strings("sha256")
            sizes = reader.hasColumn("size") ? try reader.int64s("size") : []
            times = reader.hasColumn("mtime_ns") ? try reader.int64s("mtime_ns") : []
            features = try reader.floatLists("features").map { $0?.map(\.bitPattern) }
        }
    }

    static func stamp(_ path: String) -> (size: Int64, time: Int64, raw: timespec) {
        var info = stat()
        stat(path, &info)
        return (Int64(info.st_size), Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec), info.st_mtim)
    }

    /// The fixture tree (plus `extra` files) extracted with `components` components: the earlier run of an update.
    static func finishedRun(
        components: Int, extra: [String: [UInt8]] = [:], arguments: [String] = [],
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> (input: String, out: String) {
        let input = try ExtractCommandTests.inputTree(extra: extra)
        let (result, out) = try ExtractCommandTests.extract(input, ["--components", "\(components)"] + arguments)
        #expect(result.status == 0, "\(result.standardError)", sourceLocation: sourceLocation)
        return (input, out)
    }

    /// A pipeline over `input` with 3 components, one job and one image per batch (so that a run can be stopped
    /// after a given number of images).
    static func slowPipeline(_ input: String) throws -> ExtractionPipeline<DirectoryImageSource> {
        var settings = ExtractionSettings()
        settings.components = .count(3)
        settings.jobs = 1
        settings.batchSize = 1
        return ExtractionPipeline(
            source: try DirectoryImageSource(root: input),
            model: try FeatureModelLoader.load(weightsAt: ExtractCommandTests.weights),
            weightsPath: ExtractCommandTests.weights, settings: settings)
    }

    /// Runs `work`, cancelling it from its progress once `count` images are done, and returns how many the
    /// interruption reports done (nil, with the issue recorded, when it was not interrupted).
    static func interrupted(
        after count: Int, sourceLocation: SourceLocation = #_sourceLocation,
        _ work: @escaping @Sendable (_ progress: @escaping @Sendable (ExtractionProgress) -> Void) async throws(ExtractionError)
            -> ExtractionSummary
    ) async throws -> Int? {
        let task = Task { () async throws(ExtractionError) -> ExtractionSummary in
            try await work { progress in
                if progress.done >= count { withUnsafeCurrentTask { $0?.cancel() } }
            }
        }
        do {
            _ = try await task.value
            Issue.record("the run was not interrupted", sourceLocation: sourceLocation)
        } catch let error as ExtractionError {
            guard case .interrupted(let done, _, _) = error else {
                Issue.record("expected an interruption, got \(error)", sourceLocation: sourceLocation)
                return nil
            }
            return done
        }
        return nil
    }

    /// raw_features.parquet and features.parquet carry each image's SHA-256 (and size and mtime in the raw file);
    /// the CSV keeps the notebook's columns.
    @Test func everyRowCarriesItsContentIdentity() throws {
        let input = try ExtractCommandTests.inputTree()
        let (result, out) = try ExtractCommandTests.extract(input, ["--components", "3"])
        #expect(result.status == 0, "\(result.standardError)")
        let raw = try Table(out + "/raw_features.parquet")
        #expect(raw.paths.count == 9)
        for (row, path) in raw.paths.enumerated() {
            let path = try #require(path)
            #expect(raw.sha256[row] == ContentDigest.sha256Hex(try Self.bytes(path)))
            let stamp = Self.stamp(path)
            #expect(raw.sizes[row] == stamp.size)
            #expect(raw.times[row] == stamp.time)
        }
        let projected = try ParquetFileReader(path: out + "/features.parquet")
        #expect(projected.columnNames == ["path", "label", "features", "sha256"])
        #expect(try projected.strings("sha256") == raw.sha256)
        let header = try String(contentsOfFile: out + "/features.csv", encoding: .utf8).prefix { $0 != "\n" }
        #expect(header == "path,label,feature_0,feature_1,feature_2")
        #expect(try String(contentsOfFile: out + "/duplicates.csv", encoding: .utf8) == "sha256,path,label\n")
        #expect(try Self.summary(out).duplicates == .init(groups: 0, files: 0, labelConflicts: 0))
        // A known value: SHA-256 of "abc" (FIPS 180-4's example).
        #expect(ContentDigest.sha256Hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func duplicatesAndLabelConflictsAreListed() throws {
        let apple = try Self.bytes(ExtractCommandTests.images + "/Apple/0_100.jpg")
        let lemon = try Self.bytes(ExtractCommandTests.images + "/Lemon/1_100.jpg")
        let input = try ExtractCommandTests.inputTree(extra: [
            "Banana/looks_like_apple.jpg": apple, "Apple/copy.jpg": apple, "Lemon/again.jpg": lemon,
        ])
        let (result, out) = try ExtractCommandTests.extract(input, ["--components", "3"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.contains("warning: 1 groups of identical files carry different labels (label conflicts)"),
                "\(result.standardError)")
        let appleHash = ContentDigest.sha256Hex(apple)
        let lemonHash = ContentDigest.sha256Hex(lemon)
        let groups = [
            (appleHash, ["\(input)/Apple/0_100.jpg,Apple", "\(input)/Apple/copy.jpg,Apple", "\(input)/Banana/looks_like_apple.jpg,Banana"]),
            (lemonHash, ["\(input)/Lemon/1_100.jpg,Lemon", "\(input)/Lemon/again.jpg,Lemon"]),
        ].sorted { $0.0 < $1.0 }
        let expected = "sha256,path,label\n" + groups.flatMap { hash, rows in rows.map { hash + "," + $0 + "\n" } }.joined()
        #expect(try String(contentsOfFile: out + "/duplicates.csv", encoding: .utf8) == expected)
        #expect(try Self.summary(out).duplicates == .init(groups: 2, files: 5, labelConflicts: 1))

        // The k-fold keeps identical files in one fold.
        let folder = try ExtractionRun(directory: URL(fileURLWithPath: out))
        let table = try folder.readFeatures()
        let keys = try folder.contentKeys(of: table.paths)
        #expect(keys.compactMap { $0 }.count == 12)
        let folds = try StratifiedFolds(labels: table.labels, foldCount: 3, seed: 0, keepingTogether: keys)
        for (row, key) in keys.enumerated() {
            for (other, otherKey) in keys.enumerated() where otherKey == key {
                #expect(folds.assignment[row] == folds.assignment[other])
            }
        }
        let evaluate = try CommandRunner.run(["evaluate", out, "--folds", "3", "--neighbors", "1"])
        #expect(evaluate.status == 0, "\(evaluate.standardError)")
        #expect(evaluate.standardOutput.contains("note: 5 images in 2 groups of identical bytes were kept in one fold per group"))

        // The report shows the conflicts.
        let report = try CommandRunner.run(["report", out])
        #expect(report.status == 0, "\(report.standardError)")
        let page = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
        #expect(page.contains("id=\"card-label-conflicts\"><div class=\"value\">1</div>"))
    }

    /// Without groups (or with every key distinct) the folds are the plain stratified ones; with groups, every
    /// group lands in one fold.
    @Test func foldsKeepGroupsTogether() throws {
        var random = SeededGenerator(seed: 3)
        let labels = (0..<200).map { _ in ["a", "b", "c", "d"][Int(random.next() % 4)] }
        let plain = try StratifiedFolds(labels: labels, foldCount: 5, seed: 9)
        #expect(try StratifiedFolds(labels: labels, foldCount: 5, seed: 9, keepingTogether: labels.indices.map { "\($0)" }) == plain)
        #expect(try StratifiedFolds(labels: labels, foldCount: 5, seed: 9, keepingTogether: labels.map { _ in nil }) == plain)
        let keys: [String?] = labels.indices.map { $0 % 3 == 0 ? "k\(random.next() % 20)" : nil }
        let grouped = try StratifiedFolds(labels: labels, foldCount: 5, seed: 9, keepingTogether: keys)
        var foldOfKey: [String: Int] = [:]
        for (row, key) in keys.enumerated() {
            guard let key else { continue }
            #expect(foldOfKey[key, default: grouped.assignment[row]] == grouped.assignment[row])
            foldOfKey[key] = grouped.assignment[row]
        }
        #expect(Set(grouped.assignment) == Set(0..<5))
    }

    /// The tree of the update scenario: the fixtures plus a file that cannot be used, and the changes made to it.
    static func changeTree(_ input: String) throws {
        let manager = FileManager.default
        // New bytes at a new path (1 network pass).
        try manager.copyItem(atPath: nearCopies + "/Apple_0_100_q70.jpg", toPath: input + "/Apple/new.jpg")
        // Changed bytes at an old path (1 pass).
        try manager.removeItem(atPath: input + "/Banana/2_100.jpg")
        try manager.copyItem(atPath: nearCopies + "/Banana_0_100_q70.jpg", toPath: input + "/Banana/2_100.jpg")
        // The earlier failure, fixed (1 pass).
        try manager.removeItem(atPath: input + "/Lemon/broken.jpg")
        try manager.copyItem(atPath: nearCopies + "/Lemon_0_100_q70.jpg", toPath: input + "/Lemon/broken.jpg")
        // Renamed, copied and removed: no pass.
        try manager.moveItem(atPath: input + "/Lemon/0_100.jpg", toPath: input + "/Lemon/renamed.jpg")
        try manager.copyItem(atPath: input + "/Apple/1_100.jpg", toPath: input + "/Banana/copy_of_apple.jpg")
        try manager.removeItem(atPath: input + "/Banana/1_100.jpg")
    }

    static func expectSameOutputs(_ updated: String, _ fresh: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(try Table(updated + "/raw_features.parquet") == Table(fresh + "/raw_features.parquet"), sourceLocation: sourceLocation)
        let a = try ExtractCommandTests.csvRows(updated + "/features.csv")
        let b = try ExtractCommandTests.csvRows(fresh + "/features.csv")
        #expect(a.count == b.count, sourceLocation: sourceLocation)
        for (rowA, rowB) in zip(a, b) {
            #expect(rowA.prefix(2) == rowB.prefix(2), sourceLocation: sourceLocation)
            for (x, y) in zip(rowA.dropFirst(2).compactMap(Double.init), rowB.dropFirst(2).compactMap(Double.init)) {
                #expect(abs(x - y) <= 1e-5 * max(abs(y), 1e-3), "\(rowA[0])", sourceLocation: sourceLocation)
            }
        }
        #expect(try String(contentsOfFile: updated + "/errors.csv", encoding: .utf8)
                == String(contentsOfFile: fresh + "/errors.csv", encoding: .utf8), sourceLocation: sourceLocation)
        #expect(try String(contentsOfFile: updated + "/duplicates.csv", encoding: .utf8)
                == String(contentsOfFile: fresh + "/duplicates.csv", encoding: .utf8), sourceLocation: sourceLocation)
        #expect(try Table(updated + "/features.parquet").sha256 == Table(fresh + "/features.parquet").sha256, sourceLocation: sourceLocation)
        #expect(Reliability.listing(updated) == Reliability.listing(fresh), sourceLocation: sourceLocation)
    }

    @Test func updateEqualsAFreshExtractAndRunsTheNetworkOncePerNewContent() throws {
        let (input, out) = try Self.finishedRun(components: 3, extra: ["Lemon/broken.jpg": try Self.bytes(Self.badJPEG)], arguments: ["--batch-size", "4"])
        #expect(try Self.summary(out).images.failed == 1)
        try Self.changeTree(input)

        // Only --update: the settings come from summary.json.
        let update = try CommandRunner.run(["extract", input, "--output", out, "--update", "--no-progress", "--jobs", "1"])
        #expect(update.status == 0, "\(update.standardError)")
        let summary = try Self.summary(out)
        #expect(summary.update == .init(reused: 6, new: 2, changed: 1, moved: 2, removed: 2, failed: 0, networkPasses: 3, pca: "refit"))
        #expect(summary.pca.components == 3)
        #expect(summary.images == .init(found: 11, processed: 11, failed: 0, networkPasses: 3))
        // One generation: the earlier run was replaced as a whole.
        #expect(try FileManager.default.contentsOfDirectory(atPath: out + "/" + RunGenerations.generationsName).count == 1)
        #expect(!FileManager.default.fileExists(atPath: out + "/" + ExtractionOutput.checkpoint))

        let (fresh, freshOut) = try ExtractCommandTests.extract(input, ["--components", "3"])
        #expect(fresh.status == 0, "\(fresh.standardError)")
        try Self.expectSameOutputs(out, freshOut)

        // Nothing changed: nothing is read, no pass.
        let again = try CommandRunner.run(["extract", input, "--output", out, "--update", "--no-progress"])
        #expect(again.status == 0, "\(again.standardError)")
        #expect(try Self.summary(out).update == .init(reused: 11, new: 0, changed: 0, moved: 0, removed: 0, failed: 0, networkPasses: 0, pca: "refit"))
        try Self.expectSameOutputs(out, freshOut)
    }

    /// Two identical new files cost one network pass between them, a renamed file none; the update still equals
    /// a fresh extract, which itself makes one pass per distinct content, whatever the jobs and batch size.
    @Test func identicalFilesShareOneNetworkPass() throws {
        let (input, out) = try Self.finishedRun(components: 3)
        #expect(try Self.summary(out).images.networkPasses == 9)
        let manager = FileManager.default
        // The pair lands in different batches (batch size 1, 2 jobs), in different folders, far apart in path order.
        try manager.copyItem(atPath: Self.nearCopies + "/Apple_0_100_q70.jpg", toPath: input + "/Apple/0_new.jpg")
        try manager.copyItem(atPath: Self.nearCopies + "/Apple_0_100_q70.jpg", toPath: input + "/Lemon/z_new.jpg")
        try manager.moveItem(atPath: input + "/Banana/0_100.jpg", toPath: input + "/Banana/renamed.jpg")

        let update = try CommandRunner.run(
            ["extract", input, "--output", out, "--update", "--no-progress", "--jobs", "2", "--batch-size", "1"])
        #expect(update.status == 0, "\(update.standardError)")
        let summary = try Self.summary(out)
        #expect(summary.update == .init(reused: 8, new: 2, changed: 0, moved: 1, removed: 1, failed: 0, networkPasses: 1, pca: "refit"))
        #expect(summary.images.networkPasses == 1)
        let (fresh, freshOut) = try ExtractCommandTests.extract(input, ["--components", "3"])
        #expect(fresh.status == 0, "\(fresh.standardError)")
        #expect(try Self.summary(freshOut).images.networkPasses == 10)
        try Self.expectSameOutputs(out, freshOut)
    }

    /// A full extract with copies (in one batch, across batches, of a file that cannot be used) gives each
    /// distinct content one network pass, and every copy exactly the features it has computed alone; the outputs
    /// are the same bytes for any jobs and batch size.
    @Test func aFullExtractRunsEachDistinctContentOnce() throws {
        let apple = try Self.bytes(ExtractCommandTests.images + "/Apple/0_100.jpg")
        let banana = try Self.bytes(ExtractCommandTests.images + "/Banana/1_100.jpg")
        let broken = try Self.bytes(Self.badJPEG)
        let input = try ExtractCommandTests.inputTree(extra: [
            "Apple/0_101.jpg": apple, "Lemon/z_apple.jpg": apple, "Banana/1_101.jpg": banana,
            "Apple/broken.jpg": broken, "Lemon/broken.jpg": broken,
        ])
        let model = try FeatureModelLoader.load(weightsAt: ExtractCommandTests.weights)
        var outputs: [String] = []
        for arguments in [["--jobs", "1", "--batch-size", "1"], ["--jobs", "2", "--batch-size", "1"],
                          ["--jobs", "2", "--batch-size", "3"], ["--jobs", "1", "--batch-size", "16"]] {
            let (result, out) = try ExtractCommandTests.extract(input, ["--components", "3"] + arguments)
            #expect(result.status == 0, "\(arguments): \(result.standardError)")
            let summary = try Self.summary(out)
            #expect(summary.images == .init(found: 14, processed: 12, failed: 2, networkPasses: 9), "\(arguments)")
            // Each row holds the features its file's bytes give on their own.
            let table = try Table(out + "/raw_features.parquet")
            let paths = table.paths.compactMap { $0 }
            let alone = model.features(ofEncoded: try paths.map(Self.bytes), names: paths)
            for (row, result) in alone.enumerated() {
                #expect(table.features[row] == (try result.get()).map(\.bitPattern), "\(paths[row])")
            }
            let errors = try String(contentsOfFile: out + "/errors.csv", encoding: .utf8)
            let reason = try #require(errors.split(separator: "\n").dropFirst().first?.split(separator: ",", maxSplits: 1).last)
            #expect(errors == "path,reason\n\(input)/Apple/broken.jpg,\(reason)\n\(input)/Lemon/broken.jpg,\(reason)\n")
            outputs.append(out)
        }
        for out in outputs.dropFirst() {
            for name in ["raw_features.parquet", "features.parquet", "features.csv", "errors.csv", "duplicates.csv"] {
                #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/" + name))
                        == Data(contentsOf: URL(fileURLWithPath: outputs[0] + "/" + name)), "\(name)")
            }
        }
    }

    /// The fixture tree, with the first file read slowly: the batch after it, holding a copy, claims the bytes first.
    struct SlowFirstFile: ImageSource {
        let directory: DirectoryImageSource
        let slow: String

        func makeIterator() -> DirectoryImageSource.Iterator { directory.makeIterator() }
        func contents(of image: ImageFile) throws(DiscoveryError) -> [UInt8] {
            if image.path == slow { usleep(400_000) }
            return try directory.contents(of: image)
        }
        func stamp(of image: ImageFile) -> FileStamp? { directory.stamp(of: image) }
    }

    /// When a later batch claims bytes first, the earlier batch holding a copy waits for it and both are journaled
    /// in order with the copy's features.
    @Test func aCopyWaitsForALaterBatchThatClaimedItsBytes() async throws {
        let apple = try Self.bytes(ExtractCommandTests.images + "/Apple/0_100.jpg")
        let input = try ExtractCommandTests.inputTree(extra: ["Apple/0_101.jpg": apple])
        var settings = ExtractionSettings()
        settings.components = .count(3)
        settings.jobs = 2
        settings.batchSize = 1
        let out = try makeScratchFolder("ff-held") + "/out"
        let summary = try await ExtractionPipeline(
            source: SlowFirstFile(directory: try DirectoryImageSource(root: input), slow: input + "/Apple/0_100.jpg"),
            model: try FeatureModelLoader.load(weightsAt: ExtractCommandTests.weights),
            weightsPath: ExtractCommandTests.weights, settings: settings
        ).run(into: out, input: input, pattern: "*.jpg")
        #expect(summary.images == .init(found: 10, processed: 10, failed: 0, networkPasses: 9))
        let (_, freshOut) = try ExtractCommandTests.extract(input, ["--components", "3", "--jobs", "1"])
        try Self.expectSameOutputs(out, freshOut)
        let table = try Table(out + "/raw_features.parquet")
        #expect(table.features[0] == table.features[1] && table.features[0] != nil)
    }

    /// A resumed run takes the features of bytes its checkpoint computed from the journal: a copy listed after
    /// the interruption costs no second pass.
    @Test func aResumedRunReusesTheContentsOfItsCheckpoint() async throws {
        let apple = try Self.bytes(ExtractCommandTests.images + "/Apple/0_100.jpg")
        let input = try ExtractCommandTests.inputTree(extra: ["Lemon/z_apple.jpg": apple])
        let out = try makeScratchFolder("ff-resume-copies") + "/out"
        let pipeline = try Self.slowPipeline(input)
        let done = try await Self.interrupted(after: 2) { progress async throws(ExtractionError) in
            try await pipeline.run(into: out, input: input, pattern: "*.jpg", progress: progress)
        }
        guard let done else { return }
        // Apple/0_100.jpg, the first listed, is in the checkpoint; its copy comes last.
        #expect(done >= 2 && done < 10)
        var settings = pipeline.settings
        settings.resume = true
        let summary = try await ExtractionPipeline(
            source: pipeline.source, model: pipeline.model, weightsPath: pipeline.weightsPath, settings: settings
        ).run(into: out, input: input, pattern: "*.jpg")
        #expect(summary.images.resumed ?? 0 >= 2)
        #expect(summary.images.networkPasses == 9)
        let (_, freshOut) = try ExtractCommandTests.extract(input, ["--components", "3"])
        try Self.expectSameOutputs(out, freshOut)
    }

    /// A file whose bytes change while its size and modification time are restored keeps its old identity and
    /// features without --checksum; --checksum reads it and sees the change.
    @Test func checksumHashesFilesWhoseStampIsUnchanged() throws {
        let (input, out) = try Self.finishedRun(components: 2)
        let target = input + "/Apple/2_100.jpg"
        let before = Self.stamp(target)
        var bytes = try Self.bytes(target)
        try #require(Array(bytes[6..<11]) == Array("JFIF".utf8) + [0])
        bytes[15] ^= 0x02  // the JFIF header's horizontal density: other bytes, same pixels
        try Data(bytes).write(to: URL(fileURLWithPath: target))
        var times = [before.raw, before.raw]
        #expect(utimensat(AT_FDCWD, target, &times, 0) == 0)
        #expect(Self.stamp(target).time == before.time && Self.stamp(target).size == before.size)
        let oldHash = try Table(out + "/raw_features.parquet").sha256

        let trusting = try CommandRunner.run(["extract", input, "--output", out, "--update", "--no-progress"])
        #expect(trusting.status == 0, "\(trusting.standardError)")
        #expect(try Self.summary(out).update?.reused == 9)
        #expect(try Table(out + "/raw_features.parquet").sha256 == oldHash)

        let checking = try CommandRunner.run(["extract", input, "--output", out, "--update", "--checksum", "--no-progress"])
        #expect(checking.status == 0, "\(checking.standardError)")
        let summary = try Self.summary(out)
        #expect(summary.update?.changed == 1 && summary.update?.reused == 8 && summary.update?.networkPasses == 1)
        let table = try Table(out + "/raw_features.parquet")
        let row = try #require(table.paths.firstIndex(of: target))
        #expect(table.sha256[row] == ContentDigest.sha256Hex(bytes))
    }

    /// Updates that cannot be made leave the folder exactly as it was.
    @Test func refusedUpdatesLeaveTheRunUntouched() throws {
        let (input, out) = try Self.finishedRun(components: 2)
        let before = try Reliability.outputs(out)
        let listing = Reliability.listing(out)
        let otherWeights = FixturePaths.root.appendingPathComponent("weights/variants/keras2_chunked_attributes.h5").path
        let cases: [([String], String)] = [
            (["--weights", otherWeights], "other weights"),
            (["--glob", "*.jpeg"], "--glob *.jpeg (the run has *.jpg)"),
            (["--components", "5"], "--components 5 (the run has 2)"),
            (["--compression", "zstd"], "--compression zstd (the run has snappy)"),
            (["--uncentered"], "--uncentered (the run is centred)"),
            (["--overwrite"], "--update or --overwrite"),
        ]
        for (arguments, message) in cases {
            let result = try CommandRunner.run(["extract", input, "--output", out, "--update", "--no-progress"] + arguments)
            #expect(result.status != 0, "\(arguments)")
            #expect(result.standardError.contains(message), "\(arguments): \(result.standardError)")
            #expect(Reliability.listing(out) == listing)
            #expect(try Reliability.outputs(out) == before)
        }
        // A folder that is not a run.
        let other = try makeScratchFolder("ff-not-a-run")
        try Data("x".utf8).write(to: URL(fileURLWithPath: other + "/notes.txt"))
        let refused = try CommandRunner.run(["extract", input, "--output", other, "--update", "--no-progress"])
        #expect(refused.status == 1)
        #expect(refused.standardError.contains("it holds no finished run"), "\(refused.standardError)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: other) == ["notes.txt"])

        // A missing folder: a plain extraction.
        let missing = try makeScratchFolder("ff-update-missing") + "/out"
        let plain = try CommandRunner.run(["extract", input, "--output", missing, "--update", "--no-progress", "--components", "2",
                                           "--weights", ExtractCommandTests.weights])
        #expect(plain.status == 0, "\(plain.standardError)")
        #expect(try Self.summary(missing).update == nil)
    }

    @Test func keepPCAProjectsWithTheEarlierComponents() throws {
        let (input, out) = try Self.finishedRun(components: 3)
        let earlier = try PCAModel(contentsOf: URL(fileURLWithPath: out + "/pca.h5"))
        try FileManager.default.copyItem(atPath: Self.nearCopies + "/Banana_0_100_q70.jpg", toPath: input + "/Banana/new.jpg")

        let kept = try CommandRunner.run(["extract", input, "--output", out, "--update", "--keep-pca", "--no-progress"])
        #expect(kept.status == 0, "\(kept.standardError)")
        #expect(try Self.summary(out).update?.pca == "kept")
        let model = try PCAModel(contentsOf: URL(fileURLWithPath: out + "/pca.h5"))
        #expect(model.components == earlier.components && model.mean == earlier.mean)
        // Every row is the earlier projection of its raw features.
        let raw = try ParquetFileReader(path: out + "/raw_features.parquet").floatLists("features")
        let rows = try ExtractCommandTests.csvRows(out + "/features.csv").dropFirst()
        #expect(rows.count == 10)
        for (row, features) in zip(rows, raw) {
            let expected = try earlier.project(try #require(features), rowCount: 1)
            #expect(row.dropFirst(2).compactMap(Float.init) == expected)
        }

        let refit = try CommandRunner.run(["extract", input, "--output", out, "--update", "--no-progress"])
        #expect(refit.status == 0, "\(refit.standardError)")
        #expect(try Self.summary(out).update?.pca == "refit")
        #expect(try PCAModel(contentsOf: URL(fileURLWithPath: out + "/pca.h5")).components != earlier.components)
    }

    /// An update stopped part way leaves the earlier run as it was; the next update finishes it.
    @Test func anInterruptedUpdateLeavesTheOldRunAndResumes() async throws {
        let (input, out) = try Self.finishedRun(components: 3, extra: ["Lemon/broken.jpg": try Self.bytes(Self.badJPEG)])
        try Self.changeTree(input)
        let before = try Reliability.outputs(out)

        let pipeline = try Self.slowPipeline(input)
        let done = try await Self.interrupted(after: 3) { progress async throws(ExtractionError) in
            try await pipeline.update(out, input: input, pattern: "*.jpg", progress: progress)
        }
        guard done != nil else { return }
        #expect(try Reliability.outputs(out) == before)
        #expect(FileManager.default.fileExists(atPath: out + "/" + ExtractionOutput.checkpoint))
        #expect(try ExtractionRun(directory: URL(fileURLWithPath: out)).readSummary()?.update == nil)

        let resumed = try CommandRunner.run(["extract", input, "--output", out, "--update", "--no-progress"])
        #expect(resumed.status == 0, "\(resumed.standardError)")
        let summary = try Self.summary(out)
        #expect(summary.images.resumed ?? 0 >= 3)
        #expect(summary.update?.networkPasses == 3)
        let (_, freshOut) = try ExtractCommandTests.extract(input, ["--components", "3"])
        try Self.expectSameOutputs(out, freshOut)
    }

    /// A run made before content identities (no sha256/size/mtime_ns columns) is updated by reading and hashing
    /// every file once, keeping the recorded features of each path.
    @Test func aRunWithoutIdentitiesIsHashedOnce() throws {
        let (input, out) = try Self.finishedRun(components: 3)
        // Rewrite raw_features.parquet as an earlier version wrote it: the notebook's three columns.
        let rawFile = try ExtractionRun(directory: URL(fileURLWithPath: out)).rawFeaturesParquet.path
        let reader = try ParquetFileReader(path: rawFile)
        let paths = try reader.strings("path"), labels = try reader.strings("label"), features = try reader.floatLists("features")
        // Written beside it and moved in by hand: the library itself refuses to write over a finished run's files.
        let earlierFile = rawFile + ".earlier"
        let writer = try ParquetResultWriter(destination: earlierFile, featureCount: 1280)
        for row in paths.indices { try writer.write(path: paths[row]!, label: labels[row]!, features: features[row]) }
        try writer.finish()
        try FileManager.default.removeItem(atPath: rawFile)
        try FileManager.default.moveItem(atPath: earlierFile, toPath: rawFile)

        let update = try CommandRunner.run(["extract", input, "--output", out, "--update", "--no-progress"])
        #expect(update.status == 0, "\(update.standardError)")
        #expect(try Self.summary(out).update == .init(reused: 9, new: 0, changed: 0, moved: 0, removed: 0, failed: 0, networkPasses: 0, pca: "refit"))
        let (_, freshOut) = try ExtractCommandTests.extract(input, ["--components", "3"])
        try Self.expectSameOutputs(out, freshOut)
    }

    /// `evaluate --test` answers held-out photos as predict does; the report then shows both numbers.
    @Test func heldOutEvaluationScoresATestFolder() throws {
        let (_, out) = try Self.finishedRun(components: 4)
        let test = try makeScratchFolder("ff-heldout") + "/Test"
        for label in ["Apple", "Banana", "Lemon"] {
            try FileManager.default.createDirectory(atPath: test + "/" + label, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: Self.nearCopies + "/\(label)_0_100_q70.jpg", toPath: test + "/\(label)/q70.jpg")
        }
        try FileManager.default.copyItem(atPath: Self.badJPEG, toPath: test + "/Lemon/broken.jpg")

        let result = try CommandRunner.run(["evaluate", out, "--test", test, "--neighbors", "1", "--json"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.contains("\(test)/Lemon/broken.jpg:"), "\(result.standardError)")
        let evaluation = try HeldOutEvaluation(contentsOf: URL(fileURLWithPath: out + "/" + HeldOutEvaluation.fileName))
        // Random weights recognise only near-copies: the q70 re-encodings come back with their label (1-NN).
        #expect(evaluation.rowCount == 3)
        #expect(evaluation.report.accuracy == 1)
        #expect(evaluation.failed.map(\.path) == [test + "/Lemon/broken.jpg"])
        #expect(evaluation.report.confusionMatrix == [[1, 0, 0], [0, 1, 0], [0, 0, 1]])
        // The same answers as predict.
        let predict = try CommandRunner.run(["predict", test + "/Banana/q70.jpg", "--model", out, "--neighbors", "1", "--top", "1"])
        #expect(predict.standardOutput.hasPrefix("\(test)/Banana/q70.jpg: Banana"), "\(predict.standardOutput)")

        #expect(try CommandRunner.run(["evaluate", out]).status == 0)
        #expect(try CommandRunner.run(["report", out]).status == 0)
        let page = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
        #expect(page.contains("id=\"heldout-summary\""))
        #expect(page.contains("<strong>accuracy 100.0%</strong> (3 of 3); cross-validated on the extracted images:"))
        #expect(page.contains("id=\"card-heldout-accuracy\""))
    }
}
