import Foundation
import Testing
@testable import FruitFeatures
#if canImport(Glibc)
import Glibc
#endif

/// The library's one file reader and one atomic replace, against what a clumsy or hostile user puts where a file
/// is expected: FIFOs, devices, sockets, symbolic links, huge files, and the files of a finished run.
///
/// Every read that could block runs under a deadline: a hang fails the test (and the FIFO is then opened for
/// writing, which releases the blocked reader) instead of stalling the suite.
@Suite struct ReliabilityFileSafetyTests {
    // MARK: - Helpers

    /// A FIFO at `path`.
    static func makeFIFO(_ path: String) throws {
        try #require(mkfifo(path, 0o644) == 0, "mkfifo \(path): \(String(cString: strerror(errno)))")
    }

    /// A bound Unix socket at `path` (kept open by the returned descriptor).
    static func makeSocket(_ path: String) throws -> Int32 {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        try #require(descriptor >= 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0, "bind \(path): \(String(cString: strerror(errno)))")
        return descriptor
    }

    /// A character device like /dev/null (1, 3) made with mknod in a scratch folder, or nil where mknod is not
    /// permitted (not root, or a container without CAP_MKNOD). Never the machine's own /dev.
    static func makeCharacterDevice(_ path: String) -> Bool {
        // makedev(1, 3), a macro Swift does not import: (major << 8) | minor for small numbers.
        mknod(path, S_IFCHR | 0o666, dev_t((1 << 8) | 3)) == 0
    }

    /// Runs `body` on a thread and waits at most `seconds`; a read blocked on `fifo` is then released by opening
    /// the FIFO for writing, and the hang is recorded as a failure.
    static func withinDeadline<T: Sendable>(
        _ seconds: Double = 10, releasing fifo: String? = nil, sourceLocation: SourceLocation = #_sourceLocation,
        _ body: @escaping @Sendable () -> T
    ) -> T? {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: T?
        Thread.detachNewThread {
            result = body()
            done.signal()
        }
        if done.wait(timeout: .now() + seconds) == .success { return result }
        Issue.record("the read did not finish within \(seconds) s: a hang", sourceLocation: sourceLocation)
        if let fifo {
            let writer = open(fifo, O_WRONLY | O_NONBLOCK)
            if writer >= 0 { close(writer) }
            _ = done.wait(timeout: .now() + 10)
        }
        return nil
    }

    /// The description of the error `body` throws (nil when it throws none), under a deadline.
    static func failure(
        releasing fifo: String? = nil, sourceLocation: SourceLocation = #_sourceLocation,
        _ body: @escaping @Sendable () throws -> Void
    ) -> String? {
        withinDeadline(releasing: fifo, sourceLocation: sourceLocation) { () -> String? in
            do {
                try body()
                return nil
            } catch {
                return "\(error)"
            }
        } ?? "hang"
    }

    /// A small finished run: the analysis fixture's extraction.
    static func finishedRun() async throws -> String {
        try await AnalysisFixture.extract(componentCount: 4).directory.path
    }

    /// Every file of a folder with its bytes (for "nothing changed").
    static func snapshot(_ folder: String) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: folder + "/" + name, isDirectory: &isFolder), !isFolder.boolValue {
                files[name] = try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name))
            }
        }
        return files
    }

    // MARK: - The one reader

    @Test func aFIFOIsRefusedByEveryReaderWithoutBlocking() async throws {
        let folder = try makeScratchFolder("ff-fifo")
        let fifo = folder + "/pipe.jpg"
        try Self.makeFIFO(fifo)
        let url = URL(fileURLWithPath: fifo)
        let readers: [(String, @Sendable () throws -> Void)] = [
            ("photo (extract)", { _ = try DirectoryImageSource.contents(ofFileAt: fifo) }),
            ("photo (predict)", { _ = try KerasPreprocessor().preprocessFile(atPath: fifo) }),
            ("features.csv", { _ = try FeatureTable(contentsOfCSV: url) }),
            ("errors.csv", { _ = try FailedImage.records(contentsOfCSV: url) }),
            ("evaluation.json", { _ = try Evaluation(contentsOf: url) }),
            ("pca.h5", { _ = try PCAModel(contentsOf: url) }),
            ("weights", { _ = try MobileNetV2Extractor(weightsAt: url) }),
            ("SHA-256", { _ = try sha256HexDigest(ofFileAt: fifo) }),
        ]
        for (what, read) in readers {
            let message = Self.failure(releasing: fifo, read)
            #expect(message?.contains(fifo) == true, "\(what): \(message ?? "no error")")
            #expect(message?.contains("not a regular file (a FIFO)") == true, "\(what): \(message ?? "no error")")
        }
    }

    @Test func aFIFOInARunFolderIsRefusedWithoutBlocking() async throws {
        for name in ["summary.json", "features.csv", "errors.csv", "pca.h5"] {
            // The run's own file, in its current generation (the top-level names are links to it).
            let out = URL(fileURLWithPath: try await Self.finishedRun())
            let run = try ExtractionRun(directory: out).generationDirectory.path
            try FileManager.default.removeItem(atPath: run + "/" + name)
            try Self.makeFIFO(run + "/" + name)
            let folder = try ExtractionRun(directory: out)
            let message = Self.failure(releasing: run + "/" + name) {
                switch name {
                case "summary.json": _ = try folder.readSummary()
                case "features.csv": _ = try folder.readFeatures()
                case "errors.csv": _ = try folder.readFailedImages()
                default: _ = try folder.readPCAModel()
                }
            }
            #expect(message?.contains(run + "/" + name) == true, "\(name): \(message ?? "no error")")
            #expect(message?.contains("not a regular file (a FIFO)") == true, "\(name): \(message ?? "no error")")
        }
    }

    @Test func aPhotoOverTheLimitIsRefusedByEveryCommandWithoutReadingIt() async throws {
        let folder = try makeScratchFolder("ff-huge")
        let huge = folder + "/huge.jpg"
        // Sparse: 300 MiB of size, no blocks on disk.
        let descriptor = open(huge, O_WRONLY | O_CREAT, 0o644)
        try #require(descriptor >= 0 && ftruncate(descriptor, 300 << 20) == 0)
        close(descriptor)
        let expected = "file is \(300 << 20) bytes, larger than the 256 MiB limit"
        let viaPredict = #expect(throws: ImageError.self) { try KerasPreprocessor().preprocessFile(atPath: huge) }
        #expect(viaPredict?.description == "\(huge): cannot read the file: \(expected)")
        let viaExtract = #expect(throws: DiscoveryError.self) { try DirectoryImageSource.contents(ofFileAt: huge) }
        #expect(viaExtract?.description == "\(huge): \(expected)")

        let run = try await Self.finishedRun()
        let predict = try SpawnedCommand(["predict", huge, "--model", run]).finish(seconds: 60)
        #expect(predict.status == 3, "\(predict.standardError)")
        #expect(predict.standardError.contains("\(huge): cannot read the file: \(expected)"), "\(predict.standardError)")
    }

    @Test func aFIFOAsPhotoOrWeightsDoesNotHangTheCommands() async throws {
        let run = try await Self.finishedRun()
        let folder = try makeScratchFolder("ff-fifo-cli")
        let fifo = folder + "/photo.jpg"
        try Self.makeFIFO(fifo)

        let predict = try SpawnedCommand(["predict", fifo, "--model", run]).finish(seconds: 60)
        #expect(predict.status == 3, "\(predict.standardError)")
        #expect(predict.standardError.contains("\(fifo): cannot read the file: not a regular file (a FIFO)"), "\(predict.standardError)")

        let transform = try SpawnedCommand(["transform", fifo, "--model", run]).finish(seconds: 60)
        #expect(transform.status == 1, "\(transform.standardError)")
        #expect(transform.standardError.contains("\(fifo): cannot read the file: not a regular file (a FIFO)"), "\(transform.standardError)")

        let weights = folder + "/weights.h5"
        try Self.makeFIFO(weights)
        let extract = try SpawnedCommand(
            ["extract", FixturePaths.root.appendingPathComponent("images").path, "--output", folder + "/out",
             "--weights", weights, "--no-progress"]).finish(seconds: 60)
        #expect(extract.status == 1, "\(extract.standardError)")
        #expect(extract.standardError.contains(weights) && extract.standardError.contains("not a regular file (a FIFO)"),
                "\(extract.standardError)")

        let fifoOut = try await Self.finishedRun()
        let fifoRun = try ExtractionRun(directory: URL(fileURLWithPath: fifoOut)).generationDirectory.path
        try FileManager.default.removeItem(atPath: fifoRun + "/summary.json")
        try Self.makeFIFO(fifoRun + "/summary.json")
        let onFIFO = try SpawnedCommand(["transform", FixturePaths.root.appendingPathComponent("images/Apple").path, "--model", fifoOut])
            .finish(seconds: 60)
        #expect(onFIFO.status == 1, "\(onFIFO.standardError)")
        #expect(onFIFO.standardError.contains("\(fifoRun)/summary.json: not a regular file (a FIFO)"), "\(onFIFO.standardError)")
    }

    // MARK: - The one atomic replace

    @Test func concurrentWritesOfOneDestinationBothComplete() throws {
        let destination = try makeScratchFolder("ff-concurrent") + "/report.html"
        let first = try AtomicFile(destination: destination)
        let second = try AtomicFile(destination: destination)
        #expect(first.temporaryPath != second.temporaryPath)
        let firstText = String(repeating: "first ", count: 100_000)
        let secondText = String(repeating: "second ", count: 50_000)
        try first.write(firstText)
        try second.write(secondText)
        try first.commit()
        #expect(try String(contentsOfFile: destination, encoding: .utf8) == firstText)
        try second.commit()
        #expect(try String(contentsOfFile: destination, encoding: .utf8) == secondText)
        let folder = (destination as NSString).deletingLastPathComponent
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["report.html"])
    }

    @Test func manyTasksReplacingOneFileLeaveOneCompleteVersion() async throws {
        let destination = try makeScratchFolder("ff-tasks") + "/evaluation.json"
        let versions = (0..<16).map { index in Array(String(repeating: "\(index),", count: 20_000 + index).utf8) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for version in versions {
                group.addTask { try writeAtomically(version, to: destination, owner: .evaluation) }
            }
            try await group.waitForAll()
        }
        let final = Array(try Data(contentsOf: URL(fileURLWithPath: destination)))
        #expect(versions.contains(final))
        let folder = (destination as NSString).deletingLastPathComponent
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["evaluation.json"])
    }

    @Test func aFailedReplaceLeavesTheOldContents() throws {
        try #require(FileManager.default.fileExists(atPath: "/dev/full"))
        let folder = try makeScratchFolder("ff-keep")
        let destination = folder + "/features.csv"
        try Data("old\n".utf8).write(to: URL(fileURLWithPath: destination))
        let file = try AtomicFile(destination: destination)
        try file.write("new, partly written\n")
        try file.redirectForTesting(to: "/dev/full")
        #expect(throws: OutputError.self) { try file.commit() }
        #expect(try String(contentsOfFile: destination, encoding: .utf8) == "old\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["features.csv"])

    }

    // MARK: - The output rule

    @Test func outputsAreNeverWrittenOverFIFOsSocketsFoldersOrDevices() throws {
        let folder = try makeScratchFolder("ff-targets")
        let fifo = folder + "/fifo"
        try Self.makeFIFO(fifo)
        let socketPath = folder + "/sock"
        let socketDescriptor = try Self.makeSocket(socketPath)
        defer { close(socketDescriptor) }
        try FileManager.default.createDirectory(atPath: folder + "/dir", withIntermediateDirectories: false)
        var targets = [(fifo, "a FIFO"), (socketPath, "a socket"), (folder + "/dir", "is a folder")]
        let device = folder + "/null"
        if Self.makeCharacterDevice(device) { targets.append((device, "a character device")) }
        for (path, kind) in targets {
            let message = Self.failure(releasing: path == fifo ? fifo : nil) {
                try AtomicFile(destination: path).commit()
            }
            #expect(message?.contains(path) == true && message?.contains(kind) == true, "\(path): \(message ?? "written")")
        }
        var info = stat()
        #expect(lstat(fifo, &info) == 0 && info.st_mode & S_IFMT == S_IFIFO)
        #expect(lstat(socketPath, &info) == 0 && info.st_mode & S_IFMT == S_IFSOCK)
        if targets.count == 4 { #expect(lstat(device, &info) == 0 && info.st_mode & S_IFMT == S_IFCHR) }
    }

    @Test func aSymbolicLinkIsFollowedAndKept() throws {
        let folder = try makeScratchFolder("ff-link")
        try FileManager.default.createDirectory(atPath: folder + "/real", withIntermediateDirectories: false)
        try Data("old".utf8).write(to: URL(fileURLWithPath: folder + "/real/target.json"))
        try FileManager.default.createSymbolicLink(atPath: folder + "/link.json", withDestinationPath: "real/target.json")
        try writeAtomically(Array("new".utf8), to: folder + "/link.json", owner: .anyWriter)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: folder + "/link.json") == "real/target.json")
        #expect(try String(contentsOfFile: folder + "/real/target.json", encoding: .utf8) == "new")

        // A link to a FIFO is refused like the FIFO.
        try Self.makeFIFO(folder + "/fifo")
        try FileManager.default.createSymbolicLink(atPath: folder + "/to-fifo", withDestinationPath: folder + "/fifo")
        let message = Self.failure(releasing: folder + "/fifo") {
            try writeAtomically(Array("x".utf8), to: folder + "/to-fifo", owner: .anyWriter)
        }
        #expect(message?.contains("not a regular file (a FIFO)") == true, "\(message ?? "written")")

        // A link loop is named as such.
        try FileManager.default.createSymbolicLink(atPath: folder + "/loop", withDestinationPath: "loop")
        #expect(Self.failure { try writeAtomically([1], to: folder + "/loop", owner: .anyWriter) }?
            .contains("too many levels of symbolic links") == true)
    }

    @Test func evaluateAndReportRefuseDevicesFIFOsAndKeepSymbolicLinks() async throws {
        let run = try await Self.finishedRun()
        let folder = try makeScratchFolder("ff-cli-targets")
        let fifo = folder + "/fifo"
        try Self.makeFIFO(fifo)
        var targets = [(fifo, "not a regular file (a FIFO)")]
        let device = folder + "/node"
        if Self.makeCharacterDevice(device) { targets.append((device, "not a regular file (a character device)")) }
        for command in ["evaluate", "report"] {
            for (path, reason) in targets {
                let result = try SpawnedCommand([command, run, "--output", path]).finish(seconds: 60)
                #expect(result.status == 1, "\(command) --output \(path): \(result.standardError)")
                #expect(result.standardError.contains(path) && result.standardError.contains(reason),
                        "\(command) --output \(path): \(result.standardError)")
            }
            let target = folder + "/\(command).out"
            try Data("old".utf8).write(to: URL(fileURLWithPath: target))
            let link = folder + "/\(command)-link"
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
            let viaLink = try SpawnedCommand([command, run, "--output", link]).finish(seconds: 60)
            #expect(viaLink.status == 0, "\(viaLink.standardError)")
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == target)
            #expect(try Data(contentsOf: URL(fileURLWithPath: target)).count > 3)
        }
        var info = stat()
        #expect(lstat(fifo, &info) == 0 && info.st_mode & S_IFMT == S_IFIFO)
        if targets.count == 2 { #expect(lstat(device, &info) == 0 && info.st_mode & S_IFMT == S_IFCHR) }
    }

    @Test func commandsRefuseToOverwriteTheFilesOfARun() async throws {
        let run = try await Self.finishedRun()
        let before = try Self.snapshot(run)
        let photo = FixturePaths.root.appendingPathComponent("images/Apple").path
        let attempts: [[String]] = [
            ["transform", photo, "--model", run, "--output", run + "/features.csv"],
            ["transform", photo, "--model", run, "--output", run + "/raw_features.parquet"],
            ["report", run, "--output", run + "/summary.json"],
            ["report", run, "--output", run + "/evaluation.json"],
            ["evaluate", run, "--output", run + "/pca.h5"],
            ["evaluate", run, "--output", run + "/errors.csv"],
            ["evaluate", run, "--output", run + "/report.html"],
        ]
        for arguments in attempts {
            let result = try SpawnedCommand(arguments).finish(seconds: 120)
            let target = arguments.last ?? ""
            #expect(result.status == 1, "\(arguments): \(result.standardError)")
            #expect(result.standardError.contains("\(target): is a file of the run in \(run)"), "\(arguments): \(result.standardError)")
        }
        #expect(try Self.snapshot(run) == before)

        // A symbolic link elsewhere that points into the run is no way round the rule.
        let link = try makeScratchFolder("ff-into-run") + "/summary.json"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: run + "/summary.json")
        let viaLink = try SpawnedCommand(["report", run, "--output", link]).finish(seconds: 60)
        #expect(viaLink.status == 1, "\(viaLink.standardError)")
        #expect(try Self.snapshot(run) == before)

        // Each command still writes the file it owns.
        #expect(try SpawnedCommand(["evaluate", run, "--folds", "2"]).finish(seconds: 120).status == 0)
        #expect(try SpawnedCommand(["report", run]).finish(seconds: 120).status == 0)
        #expect(FileManager.default.fileExists(atPath: run + "/evaluation.json"))
        #expect(FileManager.default.fileExists(atPath: run + "/report.html"))
        // The same names outside a finished run are ordinary files.
        let elsewhere = try makeScratchFolder("ff-not-a-run")
        #expect(try SpawnedCommand(["evaluate", run, "--folds", "2", "--output", elsewhere + "/pca.h5"]).finish(seconds: 120).status == 0)
    }

    // MARK: - weights download

    @Test func weightsDownloadTakesABareNameAndLeavesNoFolderBehind() throws {
        let served = try makeScratchFolder()
        let payload = Data([0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A] + (0..<5000).map { UInt8($0 % 251) })
        try payload.write(to: URL(fileURLWithPath: served + "/weights.h5"))
        let server = try LoopbackHTTPServer(serving: served)
        let work = try makeScratchFolder()

        let bare = try CommandRunner.run(
            ["weights", "download", "--url", server.url("weights.h5"), "--output", "dl.h5", "--no-progress"], directory: work)
        #expect(bare.status == 0, "\(bare.standardError)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: work + "/dl.h5")) == payload)

        let failed = try CommandRunner.run(
            ["weights", "download", "--url", server.url("missing.h5"), "--output", "sub/deeper/dl.h5", "--no-progress"],
            directory: work)
        #expect(failed.status == 1)
        #expect(!FileManager.default.fileExists(atPath: work + "/sub"))

        let nested = try CommandRunner.run(
            ["weights", "download", "--url", server.url("weights.h5"), "--output", "sub/deeper/dl.h5", "--no-progress"],
            directory: work)
        #expect(nested.status == 0, "\(nested.standardError)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: work + "/sub/deeper/dl.h5")) == payload)

        // A dangling link whose folder is missing: said so, not "File exists".
        try FileManager.default.createSymbolicLink(atPath: work + "/dangling.h5", withDestinationPath: work + "/gone/w.h5")
        let dangling = try CommandRunner.run(
            ["weights", "download", "--url", server.url("weights.h5"), "--output", "dangling.h5", "--no-progress"],
            directory: work)
        #expect(dangling.status == 1)
        #expect(dangling.standardError.contains("the folder \(work)/gone does not exist"), "\(dangling.standardError)")
        #expect(!dangling.standardError.contains("File exists"))

        // A dangling link as an output folder of extract: named as such.
        try FileManager.default.createSymbolicLink(atPath: work + "/out", withDestinationPath: work + "/nowhere")
        let extract = try CommandRunner.run(
            ["extract", FixturePaths.root.appendingPathComponent("images").path, "--output", work + "/out",
             "--weights", Reliability.weights, "--no-progress"])
        #expect(extract.status == 1)
        #expect(extract.standardError.contains("is a symbolic link to \(work)/nowhere, which does not exist"), "\(extract.standardError)")
    }
}

@Suite struct FileDigestTests {
    @Test func sha256MatchesTheStandardVectorsAndSha256sum() throws {
        let folder = try makeScratchFolder("ff-sha")
        let vectors = [
            ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ]
        for (text, digest) in vectors {
            try Data(text.utf8).write(to: URL(fileURLWithPath: folder + "/v"))
            #expect(try sha256HexDigest(ofFileAt: folder + "/v") == digest)
        }
        // Several blocks of the streaming read, and a tail: compared with coreutils.
        var generator = SeededGenerator(seed: 7)
        let bytes = (0..<((3 << 20) + 12_345)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        try Data(bytes).write(to: URL(fileURLWithPath: folder + "/big"))
        let reference = try CommandRunner.run(executable: "/usr/bin/sha256sum", [folder + "/big"])
        #expect(try sha256HexDigest(ofFileAt: folder + "/big") == String(reference.standardOutput.prefix(64)))
    }
}
