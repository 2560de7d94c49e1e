import Foundation

/// One batch's outcome, in the order of its entries.
struct BatchResult: Sendable {
    enum Outcome: Sendable {
        /// The image's features are in the buffer's row `offset`.
        case features(ImageFile, offset: Int)
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

    /// Entries whose outcome is in the journal (resumed ones included).
    private(set) var done = 0
    /// Of those, entries that failed.
    private(set) var failed = 0
    /// Where the checkpoint lives (named when the run is interrupted).
    private let checkpointDirectory: String

    init(
        pipeline: ExtractionPipeline<Source>, outputDirectory: String, checkpoint: ExtractionCheckpoint, total: Int,
        progress: @escaping @Sendable (ExtractionProgress) -> Void
    ) {
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
                process: { work in NetworkPass.process(work.entries, buffer: work.buffer, source: source, model: model) },
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
        _ entries: [DiscoveredEntry], buffer: BatchBuffer, source: Source, model: any FeatureModel
    ) -> BatchResult? {
        let images = entries.compactMap { entry -> ImageFile? in
            if case .image(let image) = entry { image } else { nil }
        }
        guard let batch = model.extractBatch(
            count: images.count, into: buffer, name: { images[$0].path },
            reading: { index, body in try source.contents(of: images[index]).withUnsafeBytes(body) },
            isCancelled: { Task.isCancelled })
        else { return nil }
        var outcomes: [BatchResult.Outcome] = []
        var imageIndex = 0
        for entry in entries {
            switch entry {
            case .problem(let problem):
                outcomes.append(.failure(path: problem.path, reason: problem.reasonText))
            case .image(let image):
                if let failure = batch.failures[imageIndex] {
                    outcomes.append(.failure(path: image.path, reason: failure.reasonText))
                } else {
                    outcomes.append(.features(image, offset: imageIndex))
                }
                imageIndex += 1
            }
        }
        return BatchResult(
            outcomes: outcomes, buffer: buffer, readSeconds: batch.readSeconds,
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
            case .features(let image, let offset):
                record.entries.append(.features(path: image.path, label: image.label))
                record.features.append(
                    contentsOf: result.buffer.features[(offset * featureCount)..<((offset + 1) * featureCount)])
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
