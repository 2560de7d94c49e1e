import Foundation

/// A batch's worth of network input, owned by one task at a time.
///
/// Allocated once per in-flight slot and handed between the collecting task and one worker task,
/// never shared: hence `@unchecked Sendable`.
final class BatchBuffer: @unchecked Sendable {
    // tensors: (batchSize, 224, 224, 3); features: (batchSize, 1280)
    let tensors: UnsafeMutableBufferPointer<Float>
    let features: UnsafeMutableBufferPointer<Float>

    init(batchSize: Int, inputCount: Int, featureCount: Int) {
        tensors = .allocate(capacity: batchSize * inputCount)
        features = .allocate(capacity: batchSize * featureCount)
    }

    deinit {
        tensors.deallocate()
        features.deallocate()
    }
}

/// One batch's outcome, in the order of its entries.
struct BatchResult: Sendable {
    enum Outcome: Sendable {
        case features(ImageFile, offset: Int, identity: ImageIdentity)
        /// Features taken from the run being updated (its row), not computed.
        case reused(ImageFile, identity: ImageIdentity, row: Int)
        case failure(path: String, reason: String)
    }

    var index: Int
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
        let extractor = pipeline.extractor
        let preprocessor = pipeline.preprocessor
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
        var waiting: [Int: BatchResult] = [:]
        var nextToWrite = 0
        var nextToStart = 0
        var exhausted = false
        // Set when a batch was abandoned (cancellation): later batches cannot be journaled in order.
        var abandoned = false

        do {
            try await withThrowingTaskGroup(of: BatchResult?.self) { group in
                func startBatch() -> Bool {
                    guard !exhausted, !abandoned, !Task.isCancelled else { return false }
                    var entries: [DiscoveredEntry] = []
                    var images = 0
                    while images < batchSize {
                        guard let entry = iterator.next() else {
                            exhausted = true
                            break
                        }
                        entries.append(entry)
                        if case .image = entry { images += 1 }
                    }
                    guard !entries.isEmpty else { return false }
                    let buffer = freeBuffers.popLast()
                        ?? BatchBuffer(
                            batchSize: batchSize, inputCount: extractor.inputCount,
                            featureCount: extractor.featureCount)
                    let index = nextToStart
                    nextToStart += 1
                    group.addTask {
                        NetworkPass.process(
                            entries, index: index, buffer: buffer, source: source, preprocessor: preprocessor,
                            extractor: extractor, reuse: reuse)
                    }
                    return true
                }

                var inFlight = 0
                while inFlight < window, startBatch() { inFlight += 1 }
                while let result = try await group.next() {
                    inFlight -= 1
                    guard let result else {
                        abandoned = true
                        continue
                    }
                    waiting[result.index] = result
                    while !abandoned, let ready = waiting.removeValue(forKey: nextToWrite) {
                        try collect(ready)
                        freeBuffers.append(ready.buffer)
                        nextToWrite += 1
                    }
                    while inFlight < window, startBatch() { inFlight += 1 }
                }
            }
        } catch let error as ExtractionError {
            throw error
        } catch {
            throw .invalidSettings("\(error)")
        }
        if Task.isCancelled || abandoned {
            throw .interrupted(
                done: done, total: total, checkpoint: checkpointDirectory)
        }
    }

    /// Reads, preprocesses and runs one batch (in a worker task).
    private static func process(
        _ entries: [DiscoveredEntry], index: Int, buffer: BatchBuffer, source: Source, preprocessor: any Preprocessor,
        extractor: MobileNetV2Extractor, reuse: ReusableFeatures?
    ) -> BatchResult? {
        // Cancelled before it started: nothing to do. (A cancelled batch is not journaled.)
        if Task.isCancelled { return nil }
        let clock = ContinuousClock()
        var outcomes: [BatchResult.Outcome] = []
        var readTime = Duration.zero
        var preprocessTime = Duration.zero
        let inputCount = extractor.inputCount
        var slots = 0
        for entry in entries {
            switch entry {
            case .problem(let problem):
                outcomes.append(.failure(path: problem.path, reason: problem.reasonText))
            case .image(let image):
                let readStart = clock.now
                // Stamped before reading: should the file change in between, the next update sees a newer stamp.
                let stamp = source.stamp(of: image)
                if let reuse, let row = reuse.unchangedRow(path: image.path, stamp: stamp), let identity = reuse.identities[row] {
                    outcomes.append(.reused(image, identity: identity, row: row))
                    readTime += clock.now - readStart
                    continue
                }
                let bytes: [UInt8]
                do {
                    bytes = try source.contents(of: image)
                } catch {
                    readTime += clock.now - readStart
                    outcomes.append(.failure(path: image.path, reason: error.reasonText))
                    continue
                }
                // Hashing the bytes read for decoding: the identity costs no second read.
                let identity = ImageIdentity(
                    sha256: ContentDigest.sha256Hex(bytes), size: stamp?.size ?? Int64(bytes.count),
                    modificationTimeNanoseconds: stamp?.modificationTimeNanoseconds ?? 0)
                if let reuse, let row = reuse.row(forContent: identity.sha256, path: image.path) {
                    outcomes.append(.reused(image, identity: identity, row: row))
                    readTime += clock.now - readStart
                    continue
                }
                let preprocessStart = clock.now
                readTime += preprocessStart - readStart
                // Only images that preprocess take a slot: features never depend on their neighbours.
                let slot = UnsafeMutableBufferPointer(rebasing: buffer.tensors[(slots * inputCount)..<((slots + 1) * inputCount)])
                do {
                    try preprocessor.preprocess(bytes, path: image.path, into: slot)
                    outcomes.append(.features(image, offset: slots, identity: identity))
                    slots += 1
                } catch {
                    outcomes.append(.failure(path: image.path, reason: error.reasonText))
                }
                preprocessTime += clock.now - preprocessStart
            }
        }
        // The network is the expensive step: skip it once cancelled.
        if Task.isCancelled { return nil }
        let networkStart = clock.now
        do {
            // A batch whose images were all reused runs no network.
            if slots > 0 { try extractor.features(
                batch: UnsafeBufferPointer(rebasing: buffer.tensors[..<(slots * inputCount)]), count: slots,
                into: buffer.features) }
        } catch {
            // The buffers are sized from the extractor itself, so this cannot happen; fail the images, not the run.
            outcomes = outcomes.map { outcome in
                if case .features(let image, _, _) = outcome { .failure(path: image.path, reason: error.description) } else { outcome }
            }
        }
        return BatchResult(
            index: index, outcomes: outcomes, buffer: buffer, readSeconds: readTime.seconds,
            preprocessSeconds: preprocessTime.seconds, networkSeconds: (clock.now - networkStart).seconds)
    }

    /// Journals one batch's outcomes, in order (on the collecting task).
    private mutating func collect(_ result: BatchResult) throws(ExtractionError) {
        let featureCount = pipeline.extractor.featureCount
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
