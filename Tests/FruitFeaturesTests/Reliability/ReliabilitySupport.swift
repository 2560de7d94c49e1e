import Foundation
import Testing
@testable import FruitFeatures
#if canImport(Glibc)
import Glibc
#endif

/// A `fruitfeatures` child process started with `posix_spawn`, so that a test can signal it at a chosen
/// moment, give up on it after a deadline (a hang fails the test instead of stalling it), and read its
/// own peak memory from `wait4`.
final class SpawnedCommand {
    struct Exit {
        /// The exit status, when it exited.
        var status: Int32?
        /// The signal that ended it, when one did.
        var signal: Int32?
        /// Peak resident memory, KiB.
        var maximumResidentKiB: Int
        var standardOutput: String
        var standardError: String
    }

    let pid: pid_t
    private let outputPath: String
    private let errorPath: String
    private(set) var exit: Exit?

    /// Starts `fruitfeatures arguments…`, optionally behind a prefix command (such as `setpriv …`).
    init(_ arguments: [String], prefix: [String] = []) throws {
        let scratch = try makeScratchFolder("ff-spawn")
        outputPath = scratch + "/stdout"
        errorPath = scratch + "/stderr"
        let argv = prefix + [CommandRunner.executable] + arguments
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var cArguments = argv.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var child: pid_t = 0
        let result = posix_spawn(&child, argv[0], &actions, nil, &cArguments, environ)
        guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: result) ?? .EINVAL) }
        pid = child
    }

    deinit {
        if exit == nil {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }

    /// Sends a signal.
    func send(_ signal: Int32) { kill(pid, signal) }

    /// Polls until the child exits; `nil` when the deadline passes first.
    @discardableResult
    func wait(seconds: Double) -> Exit? {
        if let exit { return exit }
        let deadline = Date().addingTimeInterval(seconds)
        var status: Int32 = 0
        var usage = rusage()
        while true {
            let reaped = wait4(pid, &status, WNOHANG, &usage)
            if reaped == pid { break }
            if Date() > deadline { return nil }
            usleep(2_000)
        }
        let exited = status & 0x7F == 0
        exit = Exit(
            status: exited ? (status >> 8) & 0xFF : nil, signal: exited ? nil : status & 0x7F,
            maximumResidentKiB: usage.ru_maxrss,
            standardOutput: (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "",
            standardError: (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "")
        return exit
    }

    /// Waits for exit, killing the child and failing the test if it does not exit in time.
    func finish(seconds: Double = 120, sourceLocation: SourceLocation = #_sourceLocation) -> Exit {
        if let exit = wait(seconds: seconds) { return exit }
        Issue.record("fruitfeatures did not finish within \(seconds) s: a hang", sourceLocation: sourceLocation)
        send(SIGKILL)
        return wait(seconds: 10) ?? Exit(maximumResidentKiB: 0, standardOutput: "", standardError: "")
    }

    /// Whether the child is still running.
    var isRunning: Bool { wait(seconds: 0) == nil }
}

/// Shared inputs of the reliability tests.
enum Reliability {
    /// Alpha-0.35 weights: the same pipeline as the full-size network, five times cheaper.
    static let weights = FixturePaths.root.appendingPathComponent("weights/variants/keras3_legacy_weights.h5").path

    /// The files a complete run writes, except summary.json (timings) and pca.h5 (HDF5 stores object
    /// times; it is compared by content with ``samePCAModel(_:_:)``).
    static let comparedFiles = ["errors.csv", "features.csv", "features.parquet", "raw_features.parquet"]

    /// `extract` arguments for `input` → `output` (progress off, small PCA).
    static func extractArguments(_ input: String, _ output: String, _ extra: [String] = []) -> [String] {
        ["extract", input, "--output", output, "--weights", weights, "--no-progress", "--components", "6"] + extra
    }

    /// Runs `extract` to the end.
    static func extract(
        _ input: String, _ output: String, _ extra: [String] = [], prefix: [String] = [], seconds: Double = 120,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> SpawnedCommand.Exit {
        try SpawnedCommand(extractArguments(input, output, extra), prefix: prefix)
            .finish(seconds: seconds, sourceLocation: sourceLocation)
    }

    /// A folder of `count` labelled photos: the fixture photos, each file with its own bytes, spread over the three
    /// labels.
    static func photoTree(count: Int) throws -> String {
        let root = try makeScratchFolder("ff-photos") + "/photos"
        let images = FixturePaths.root.appendingPathComponent("images").path
        let labels = ["Apple", "Banana", "Lemon"]
        for label in labels {
            try FileManager.default.createDirectory(atPath: root + "/" + label, withIntermediateDirectories: true)
        }
        for index in 0..<count {
            let label = labels[index % 3]
            let source = "\(images)/\(label)/\((index / 3) % 3)_100.jpg"
            // Each file its own bytes (a JPEG comment naming it, right after SOI; the same pixels): a run gives each
            // distinct content one network pass, so plain copies would leave these runs almost no work to stop.
            let photo = try Data(contentsOf: URL(fileURLWithPath: source))
            let comment = Array(String(format: "img_%04d", index).utf8)
            let marked = photo.prefix(2) + Data([0xFF, 0xFE, 0x00, UInt8(2 + comment.count)] + comment) + photo.dropFirst(2)
            try marked.write(to: URL(fileURLWithPath: String(format: "%@/%@/img_%04d.jpg", root, label, index)))
        }
        return root
    }

    /// The bytes of the compared output files of a run.
    static func outputs(_ directory: String) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in comparedFiles {
            files[name] = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name))
        }
        return files
    }

    /// Whether two pca.h5 files hold the same model, value for value.
    static func samePCAModel(_ first: String, _ second: String) throws -> Bool {
        let a = try PCAModel(contentsOf: URL(fileURLWithPath: first))
        let b = try PCAModel(contentsOf: URL(fileURLWithPath: second))
        return a.componentCount == b.componentCount && a.mean == b.mean && a.components == b.components
            && a.explainedVariance == b.explainedVariance && a.centring == b.centring
    }

    /// The summary.json of a complete run.
    static func summary(_ output: String) throws -> ExtractionSummary {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(ExtractionSummary.self, from: Data(contentsOf: URL(fileURLWithPath: output + "/summary.json")))
    }

    /// The names in an output folder as a user sees them: the generation layout's own entries (marker, generations,
    /// `current`: checked by ExtractCommandTests.theRunIsPublishedAsAGeneration) left out.
    static func listing(_ directory: String) -> [String] {
        let layout: Set = [RunGenerations.markerName, RunGenerations.generationsName, RunGenerations.currentName]
        return ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { !layout.contains($0) }.sorted()
    }

    /// The size of a file, or 0 if it does not exist.
    static func size(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }

    /// Waits (polling) until `condition` holds or the child exits; true when the condition held first.
    static func wait(for child: SpawnedCommand, seconds: Double = 120, until condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            if !child.isRunning { return condition() }
            usleep(1_000)
        }
        return false
    }

    /// The journal of a checkpoint folder.
    static func journal(_ output: String) -> String {
        output + "/" + ExtractionOutput.checkpoint + "/" + ExtractionCheckpoint.journalName
    }
}

/// A strict RFC 4180 reader: quoted fields may hold commas, quotes (doubled) and line breaks.
enum CSVTable {
    static func parse(_ text: String) -> [[String]]? {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var afterQuote = false
        var characters = Array(text.unicodeScalars)[...]
        var fieldStarted = false
        while let character = characters.popFirst() {
            if quoted {
                if character == "\"" {
                    if characters.first == "\"" {
                        field.unicodeScalars.append("\"")
                        characters.removeFirst()
                    } else {
                        quoted = false
                        afterQuote = true
                    }
                } else {
                    field.unicodeScalars.append(character)
                }
                continue
            }
            switch character {
            case "\"":
                guard !fieldStarted, !afterQuote else { return nil }
                quoted = true
                fieldStarted = true
            case ",":
                row.append(field)
                field = ""
                fieldStarted = false
                afterQuote = false
            case "\n":
                row.append(field)
                rows.append(row)
                row = []
                field = ""
                fieldStarted = false
                afterQuote = false
            default:
                guard !afterQuote else { return nil }
                field.unicodeScalars.append(character)
                fieldStarted = true
            }
        }
        guard !quoted, field.isEmpty, row.isEmpty else { return nil }  // The file ends with a line break.
        return rows
    }

    static func read(_ path: String) throws -> [[String]] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        guard let rows = parse(text) else { throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: path]) }
        return rows
    }
}
