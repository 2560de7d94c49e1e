import Foundation

/// What an image of a batch becomes before the network: reused (by stamp without reading, or by the hash of
/// the bytes read), failed to read, or waiting for the network with its bytes and identity.
enum ImagePlan {
    case reused(identity: ImageIdentity, row: Int)
    case unreadable(any Error)
    case network(bytes: [UInt8], identity: ImageIdentity)
}

/// One batch's outcome, in the order of its entries.
struct BatchResult: Sendable {
    enum Outcome: Sendable {
        /// The image's features are in the buffer's row `offset`.
        case features(ImageFile, offset: Int, identity: ImageIdentity)
        /// Features taken from the run being updated (its row), not computed.
        case reused(ImageFile, identity: ImageIdentity, row: Int)
        case failure(path: String, reason: String)
    }

    var outcomes: [Outcome]
    var buffer: BatchBuffer
    var readSeconds: Double
    var preprocessSeconds: Double
    var networkSeconds: Double
}

/// The first pass of an extraction: images → raw features, in path order, appended batch by batch to
/// the checkpoint journal (everything later is derived from the journal).
///
/// When resuming, the entries the journal already holds are listed again and checked against it, not
/// processed again. Cancellation stops new batches; batches already running finish and are journaled
/// in order, so no finished work is lost.
struct NetworkPass<Source: ImageSource> {
    let pipeline: ExtractionPipeline<Source>
    let outputDirectory: String
    let total: Int
    let progress: @Sendable (ExtractionProgress) -> Void

    private let journal: CheckpointJournalWriter
    private let completed: [JournalRecord.Entry]
    /// The raw features of the run an update replaces; nil for a plain extraction.
    private let reuse: ReusableFeatures?

    /// Entries whose outcome is in the journal (resumed ones included).
    private(set) var done = 0
    /// Of those, entries that failed.
    private(set) var failed = 0
    /// Where the checkpoint lives (named when the run is interrupted).
    private let checkpointDirectory: String

    init(
        pipeline: ExtractionPipeline<Source>, outputDirectory: String, checkpoint: ExtractionCheckpoint, total: Int,
        reuse: ReusableFeatures? = nil,
        progress: @escaping @Sendable (ExtractionProgress) -> Void
    ) {
        self.reuse = reuse
        self.pipeline = pipeline
        self.outputDirectory = outputDirectory
        self.total = total
        self.progress = progress
        journal = checkpoint.writer
        checkpointDirectory = checkpoint.directory
        completed = checkpoint.completed
    }

    /// Runs the network over every image not yet in the journal, `jobs + 1` batches in flight.
    /// - Throws: ``ExtractionError/interrupted(done:total:checkpoint:)`` when cancelled.
    mutating func run() async throws(ExtractionError) {
        let settings = pipeline.settings
        let model = pipeline.model
        let source = pipeline.source
        let reuse = self.reuse
        let window = settings.jobs + 1
        // Any batch size gives the same results; a multiple of the plan's group size (8) runs fastest.
        let batchSize = settings.batchSize
        var iterator = source.makeIterator()

        // The finished prefix: listed again (the order is deterministic) and checked, not processed.
        for entry in completed {
            guard let listed = iterator.next() else {
                throw .cannotResume(
                    outputDirectory, reason: "the input has changed since the checkpoint: \(entry.path) is no longer there")
            }
            guard listed.path == entry.path else {
                throw .cannotResume(
                    outputDirectory,
                    reason: "the input has changed since the checkpoint: found \(listed.path) where \(entry.path) was")
            }
            done += 1
            if case .failure = entry { failed += 1 }
        }
        if !completed.isEmpty { progress(ExtractionProgress(total: total, done: done, failed: failed)) }

        var freeBuffers: [BatchBuffer] = []
        let completedAll: Bool
        do {
            completedAll = try await FeatureBatchRunner.run(
                window: window,
                next: { () -> (entries: [DiscoveredEntry], buffer: BatchBuffer)? in
                    var entries: [DiscoveredEntry] = []
                    var images = 0
                    while images < batchSize, let entry = iterator.next() {
                        entries.append(entry)
                        if case .image = entry { images += 1 }
                    }
                    guard !entries.isEmpty else { return nil }
                    return (entries, freeBuffers.popLast() ?? BatchBuffer(capacity: batchSize, model: model))
                },
                process: { work in
                    NetworkPass.process(work.entries, buffer: work.buffer, source: source, model: model, reuse: reuse)
                },
                deliver: { result in
                    try collect(result)
                    freeBuffers.append(result.buffer)
                })
        } catch let error as ExtractionError {
            throw error
        } catch {
            throw .invalidSettings("\(error)")
        }
        if Task.isCancelled || !completedAll {
            throw .interrupted(
                done: done, total: total, checkpoint: checkpointDirectory)
        }
    }

    /// Reads, preprocesses and runs one batch (in a worker task); nil when cancelled (a cancelled batch is not
    /// journaled).
    private static func process(
        _ entries: [DiscoveredEntry], buffer: BatchBuffer, source: Source, model: any FeatureModel,
        reuse: ReusableFeatures?
    ) -> BatchResult? {
        if Task.isCancelled { return nil }
        let clock = ContinuousClock()
        var readTime = Duration.zero
        var plans: [ImagePlan?] = []
        var networkImages: [ImageFile] = []
        var networkBytes: [[UInt8]] = []
        for entry in entries {
            guard case .image(let image) = entry else {
                plans.append(nil)
                continue
            }
            let readStart = clock.now
            defer { readTime += clock.now - readStart }
            // Stamped before reading: should the file change in between, the next update sees a newer stamp.
            let stamp = source.stamp(of: image)
            if let reuse, let row = reuse.unchangedRow(path: image.path, stamp: stamp), let identity = reuse.identities[row] {
                plans.append(.reused(identity: identity, row: row))
                continue
            }
            let bytes: [UInt8]
            do {
                bytes = try source.contents(of: image)
            } catch {
                plans.append(.unreadable(error))
                continue
            }
            // The hash of the bytes read for decoding: identifying an image costs no second read.
            let identity = ImageIdentity(
                sha256: ContentDigest.sha256Hex(bytes), size: stamp?.size ?? Int64(bytes.count),
                modificationTimeNanoseconds: stamp?.modificationTimeNanoseconds ?? 0)
            if let reuse, let row = reuse.row(forContent: identity.sha256, path: image.path) {
                plans.append(.reused(identity: identity, row: row))
                continue
            }
            plans.append(.network(bytes: bytes, identity: identity))
            networkImages.append(image)
            networkBytes.append(bytes)
        }
        // Only the images that need it go through the network (a batch whose images were all reused runs none).
        let batch: EncodedBatchOutcome
        if networkImages.isEmpty {
            batch = EncodedBatchOutcome(failures: [])
        } else {
            guard let outcome = model.extractBatch(
                count: networkImages.count, into: buffer, name: { networkImages[$0].path },
                reading: { index, body in networkBytes[index].withUnsafeBytes(body) },
                isCancelled: { Task.isCancelled })
            else { return nil }
            batch = outcome
        }
        var outcomes: [BatchResult.Outcome] = []
        var networkIndex = 0
        for (entry, plan) in zip(entries, plans) {
            switch entry {
            case .problem(let problem):
                outcomes.append(.failure(path: problem.path, reason: problem.reasonText))
            case .image(let image):
                switch plan {
                case .reused(let identity, let row):
                    outcomes.append(.reused(image, identity: identity, row: row))
                case .unreadable(let error):
                    outcomes.append(.failure(path: image.path, reason: error.reasonText))
                case .network(_, let identity):
                    if let failure = batch.failures[networkIndex] {
                        outcomes.append(.failure(path: image.path, reason: failure.reasonText))
                    } else {
                        outcomes.append(.features(image, offset: networkIndex, identity: identity))
                    }
                    networkIndex += 1
                case nil:
                    break
                }
            }
        }
        return BatchResult(
            outcomes: outcomes, buffer: buffer, readSeconds: batch.readSeconds + readTime.seconds,
            preprocessSeconds: batch.preprocessSeconds, networkSeconds: batch.networkSeconds)
    }

    /// Journals one batch's outcomes, in order (on the collecting task).
    private mutating func collect(_ result: BatchResult) throws(ExtractionError) {
        let featureCount = pipeline.model.featureCount
        var record = JournalRecord(
            readSeconds: result.readSeconds, preprocessSeconds: result.preprocessSeconds,
            networkSeconds: result.networkSeconds)
        for outcome in result.outcomes {
            switch outcome {
            case .features(let image, let offset, let identity):
                record.entries.append(.features(path: image.path, label: image.label))
                record.features.append(
                    contentsOf: result.buffer.features[(offset * featureCount)..<((offset + 1) * featureCount)])
                record.identities.append(identity)
            case .reused(let image, let identity, let row):
                record.entries.append(.features(path: image.path, label: image.label))
                reuse?.appendFeatures(ofRow: row, to: &record.features)
                record.identities.append(identity)
            case .failure(let path, let reason):
                record.entries.append(.failure(path: path, reason: reason))
                failed += 1
            }
        }
        do {
            try journal.append(record)
        } catch {
            throw .output(error)
        }
        done += record.entries.count
        progress(ExtractionProgress(total: total, done: done, failed: failed))
    }
}

extension DiscoveredEntry {
    /// The path of the image or of the problem entry.
    var path: String {
        switch self {
        case .image(let image): image.path
        case .problem(let problem): problem.path
        }
    }
}

extension Error {
    /// The reason part of an error's description, without a leading "path: ".
    var reasonText: String {
        if let discovery = self as? DiscoveryError {
            let text = discovery.description
            let prefix = discovery.path + ": "
            return text.hasPrefix(prefix) ? String(text.dropFirst(prefix.count)) : text
        }
        if let image = self as? ImageError { return image.reasonDescription }
        return "\(self)"
    }
}
