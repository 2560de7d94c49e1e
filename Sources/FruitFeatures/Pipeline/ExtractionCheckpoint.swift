import Foundation
import SystemPackage

/// What a checkpoint's features were made from; a resumed run must match it.
///
/// Settings that only shape the later stages (PCA size, centring, formats, compression, jobs, batch
/// size) may differ between the interrupted and the resumed run: the checkpoint holds raw features.
struct CheckpointManifest: Codable, Equatable, Sendable {
    /// The layout of the checkpoint files (2: records mark the features the network computed).
    var format = 2
    /// The FruitFeatures version that made the features.
    var version: String
    /// The input folder, as given (output paths are built from it).
    var input: String
    /// The file-name pattern.
    var glob: String
    /// SHA-256 of the weights file.
    var weightsSHA256: String
    /// Floats per feature vector.
    var featureCount: Int
    /// Network input size.
    var inputSize: Int

    /// Why a run with `other` cannot continue this checkpoint, or `nil` when it can.
    func mismatch(with other: CheckpointManifest) -> String? {
        if format != other.format { return "its format (\(format)) is not the one this version writes (\(other.format))" }
        if version != other.version { return "it was made by fruitfeatures \(version), not \(other.version)" }
        if input != other.input { return "it was made from the input '\(input)', not '\(other.input)'" }
        if glob != other.glob { return "it was made with --glob '\(glob)', not '\(other.glob)'" }
        if weightsSHA256.isEmpty || weightsSHA256 != other.weightsSHA256 {
            return "it was made with other weights (SHA-256 \(weightsSHA256.isEmpty ? "unknown" : weightsSHA256))"
        }
        if featureCount != other.featureCount || inputSize != other.inputSize {
            return "it holds \(featureCount) features per image at input size \(inputSize), not \(other.featureCount) at \(other.inputSize)"
        }
        return nil
    }
}

/// The durable record of an extraction's finished work, kept in `OUT_DIR/.fruitfeatures-checkpoint/`
/// until the run completes.
///
/// `manifest.json` says what the features were made with; `journal` holds one synced record per
/// finished batch, in path order (see ``JournalFormat``). Everything after the network pass —
/// raw_features.parquet, errors.csv, the PCA fit and projection — is derived from the journal, so a
/// resumed run writes exactly the bytes an uninterrupted run would.
struct ExtractionCheckpoint {
    /// The checkpoint folder.
    let directory: String
    /// The outcomes already in the journal, in path order (empty for a fresh run).
    let completed: [JournalRecord.Entry]
    /// The contents the journal holds network-computed features of (SHA-256 and where the features are), so a
    /// resumed run gives none of them a second network pass.
    let computedContents: [(sha256: String, featuresOffset: Int)]
    /// Appends to the journal.
    let writer: CheckpointJournalWriter

    /// The journal's path.
    var journalPath: String { directory + "/" + Self.journalName }

    static let manifestName = "manifest.json"
    static let journalName = "journal"

    /// Opens the checkpoint of `outputDirectory`: continues the existing one when `resume` is set and
    /// it matches `manifest`, otherwise starts an empty one.
    static func open(
        in outputDirectory: String, manifest: CheckpointManifest, resume: Bool
    ) throws(ExtractionError) -> ExtractionCheckpoint {
        let directory = outputDirectory + "/" + ExtractionOutput.checkpoint
        let manifestPath = directory + "/" + manifestName
        let journalPath = directory + "/" + journalName
        var completed: [JournalRecord.Entry] = []
        var computedContents: [(sha256: String, featuresOffset: Int)] = []
        var validLength = 0
        if resume, let data = try readManifest(manifestPath) {
            let saved: CheckpointManifest
            do {
                saved = try JSONDecoder().decode(CheckpointManifest.self, from: Data(data))
            } catch let error as DecodingError {
                throw .cannotResume(
                    outputDirectory,
                    reason: "the checkpoint manifest \(manifestPath) is unreadable: "
                        + (misfitIntegerField(in: Data(data), among: ["format", "featureCount", "inputSize"])
                            ?? error.fieldDescription(snakeCase: false)))
            } catch {
                throw .cannotResume(outputDirectory, reason: "the checkpoint manifest \(manifestPath) is unreadable: \(error)")
            }
            if let why = saved.mismatch(with: manifest) {
                throw .cannotResume(outputDirectory, reason: "the checkpoint does not match this run: \(why)")
            }
            do {
                if let reader = try CheckpointJournalReader(path: journalPath, featureCount: manifest.featureCount) {
                    // Records up to the first torn one are kept; the rest is cut off by the writer.
                    var start = reader.offset
                    while let record = try? reader.next() {
                        completed += record.entries
                        let offsets = JournalFormat.featureOffsets(of: record, featureCount: manifest.featureCount)
                        for row in record.networkRows {
                            computedContents.append((record.identities[row].sha256, start + offsets[row]))
                        }
                        start = reader.offset
                    }
                    validLength = reader.offset
                }
            } catch {
                throw .output(error)
            }
        } else {
            // A fresh checkpoint: anything left from an older run goes.
            try? removeTree(atPath: directory)
            do {
                try SystemCalls.makeFolder(directory)
            } catch {
                throw .outputNotWritable(outputDirectory, reason: "cannot create the checkpoint \(directory): \(error.description)")
            }
            do {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                let file = try AtomicFile(destination: manifestPath)
                try file.write(try encoder.encode(manifest))
                try file.commit()
            } catch let error as OutputError {
                throw .output(error)
            } catch {
                throw .outputNotWritable(outputDirectory, reason: "cannot create the checkpoint \(directory): \(error.localizedDescription)")
            }
        }
        do {
            let writer = try CheckpointJournalWriter(
                path: journalPath, featureCount: manifest.featureCount, keepingFirst: validLength)
            syncDirectory(directory)
            return ExtractionCheckpoint(
                directory: directory, completed: completed, computedContents: computedContents, writer: writer)
        } catch {
            throw .output(error)
        }
    }

    /// Reads every record of the journal, in order.
    static func forEachRecord(
        inJournal path: String, featureCount: Int, _ body: (JournalRecord) throws(ExtractionError) -> Void
    ) throws(ExtractionError) {
        let reader: CheckpointJournalReader?
        do {
            reader = try CheckpointJournalReader(path: path, featureCount: featureCount)
        } catch {
            throw .output(error)
        }
        guard let reader else { throw .output(OutputError(.create, path: path, reason: "the checkpoint journal is missing")) }
        while true {
            let record: JournalRecord?
            do {
                record = try reader.next()
            } catch {
                throw .output(OutputError(.write, path: path, reason: "checkpoint journal: \(error)"))
            }
            guard let record else { return }
            try body(record)
        }
    }

    /// The file in a checkpoint folder naming the generation that completes it (see ``markCompleted(by:)``).
    static let completionName = "completed-by"

    /// Records, before the run is published, which generation completes this checkpoint: a kill between the
    /// publication and ``remove()`` then leaves a checkpoint that the next run recognises as done.
    func markCompleted(by generation: String) {
        // Best effort, as before: without the mark a kill at that moment only makes the next run redo the work.
        guard let file = try? AtomicFile(destination: directory + "/" + Self.completionName) else { return }
        do throws(OutputError) {
            try file.write(generation)
            try file.commit()
        } catch {
            file.discard()
        }
    }

    /// The generation a checkpoint folder says completes it, if it says so.
    static func completingGeneration(ofCheckpointAt directory: String) -> String? {
        guard let bytes = try? readRegularFile(atPath: directory + "/" + completionName, limit: 4096) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }

    /// Removes the checkpoint once the run is complete.
    func remove() {
        try? removeTree(atPath: directory)
    }

    /// Makes a new file's directory entry durable.
    private static func syncDirectory(_ path: String) {
        try? SystemCalls.syncFolder(path)
    }

    /// The checkpoint's manifest; nil when there is none.
    private static func readManifest(_ path: String) throws(ExtractionError) -> [UInt8]? {
        do {
            return try readRegularFile(atPath: path, limit: FileSizeLimit.summary)
        } catch {
            if case .system(.noSuchFileOrDirectory) = error.reason { return nil }
            throw .output(OutputError(.create, path: path, reason: "cannot read the checkpoint manifest: \(error.reasonText)"))
        }
    }
}

/// An exclusive lock on an output folder for the length of a run, so two runs never write into one folder.
final class OutputFolderLock {
    private let descriptor: FileDescriptor

    init(_ directory: String) throws(ExtractionError) {
        do {
            descriptor = try FileDescriptor.open(FilePath(directory), .readOnly, options: [.directory, .closeOnExec])
        } catch {
            throw .outputNotWritable(directory, reason: (error as? Errno ?? .ioError).description)
        }
        let locked: Bool
        do {
            locked = try SystemCalls.lockExclusively(descriptor)
        } catch {
            try? descriptor.close()
            throw .outputNotWritable(directory, reason: "cannot lock it: \(error.description)")
        }
        guard locked else {
            try? descriptor.close()
            throw .outputInUse(directory)
        }
    }

    deinit { try? descriptor.close() }
}
