import Foundation

/// What an image of a batch becomes before the network: reused (by stamp without reading, or by the hash of
/// the bytes read), failed to read, waiting for the network with its bytes and identity, or taking the features
/// of the same bytes computed elsewhere in this run.
enum ImagePlan {
    case reused(identity: ImageIdentity, row: Int)
    case unreadable(any Error)
    case network(bytes: [UInt8], identity: ImageIdentity, key: ContentKey)
    case sameContent(identity: ImageIdentity, key: ContentKey)
}

/// One batch's outcome, in the order of its entries.
struct BatchResult: Sendable {
    enum Outcome: Sendable {
        /// The image's features are in the buffer's row `offset` (it went through the network).
        case features(ImageFile, offset: Int, identity: ImageIdentity, key: ContentKey)
        /// Features taken from the run being updated (its row), not computed.
        case reused(ImageFile, identity: ImageIdentity, row: Int)
        /// The same bytes as an image another entry of this run computes (or computed): its features, or its
        /// failure, once that entry is delivered.
        case sameContent(ImageFile, identity: ImageIdentity, key: ContentKey)
        /// `content` is set when the bytes were claimed for the network: images with the same bytes fail alike.
        case failure(path: String, reason: String, content: ContentKey?)
    }

    /// The batch's number in the run (0, 1, ...; batches are delivered in this order).
    var sequence: Int
    var outcomes: [Outcome]
    var buffer: BatchBuffer
    var readSeconds: Double
    var preprocessSeconds: Double
    var networkSeconds: Double
}

/// Where the collecting task finds the features of a content computed in this run.
private enum ComputedContent {
    /// In the buffer of a delivered batch not yet journaled (row `offset`).
    case inBatch(sequence: Int, offset: Int)
    /// In the journal, at this byte offset.
    case journaled(offset: Int)
    /// Its image could not be used.
    case failed(reason: String)
}

/// The first pass of an extraction: images → raw features, in path order, appended batch by batch to
/// the checkpoint journal (everything later is derived from the journal).
///
/// Each distinct content gets one network pass per run: a worker hashes the bytes it reads and claims new bytes
/// (``ContentClaims``); an image whose bytes another image of the run claimed takes that image's features when
/// both are delivered. Batches are journaled in order, so a batch whose copies wait for a later batch is held
/// until that one is delivered (it is already running: it claimed the bytes first).
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
    private let claims: ContentClaims
    /// The contents computed in this run so far (a resumed run's journal included), by where their features are.
    private var computed: [ContentKey: ComputedContent] = [:]
    /// Delivered batches not yet journaled, in order: the first waits for a copy's features.
    private var held: [BatchResult] = []

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
        var journaled: [ContentKey] = []
        for content in checkpoint.computedContents {
            guard let key = ContentKey(hexadecimal: content.sha256) else { continue }
            journaled.append(key)
            computed[key] = .journaled(offset: content.featuresOffset)
        }
        claims = ContentClaims(journaled: journaled)
    }

    /// Runs the network over every image not yet in the journal, `jobs + 1` batches in flight.
    /// - Throws: ``ExtractionError/interrupted(done:total:checkpoint:)`` when cancelled.
    mutating func run() async throws(ExtractionError) {
        let settings = pipeline.settings
        let model = pipeline.model
        let source = pipeline.source
        let reuse = self.reuse
        let claims = self.claims
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
        var sequence = 0
        // Entries not handed out yet (the listing's count): near the end batches shrink (BatchSizing).
        var remaining = max(0, total - completed.count)
        let meter = BatchCostMeter()
        let jobs = settings.jobs
        let completedAll: Bool
        do {
            completedAll = try await FeatureBatchRunner.run(
                window: window,
                next: { () -> (entries: [DiscoveredEntry], buffer: BatchBuffer, sequence: Int)? in
                    let size = BatchSizing.size(
                        remaining: remaining, jobs: jobs, batchSize: batchSize, secondsPerImage: meter.secondsPerImage)
                    var entries: [DiscoveredEntry] = []
                    var images = 0
                    while images < size, let entry = iterator.next() {
                        entries.append(entry)
                        if case .image = entry { images += 1 }
                    }
                    guard !entries.isEmpty else { return nil }
                    remaining -= entries.count
                    defer { sequence += 1 }
                    return (entries, freeBuffers.popLast() ?? BatchBuffer(capacity: batchSize, model: model), sequence)
                },
                process: { work in
                    let result = NetworkPass.process(
                        work.entries, sequence: work.sequence, buffer: work.buffer, source: source, model: model,
                        reuse: reuse, claims: claims)
                    if let result {
                        meter.record(seconds: result.readSeconds + result.preprocessSeconds + result.networkSeconds,
                                     images: result.outcomes.count)
                    }
                    return result
                },
                deliver: { result in
                    freeBuffers += try collect(result)
                })
        } catch let error as ExtractionError {
            throw error
        } catch {
            throw .invalidSettings("\(error)")
        }
        // Every claimer is delivered before the run ends, so nothing is held then, unless the run was stopped.
        if Task.isCancelled || !completedAll || !held.isEmpty {
            throw .interrupted(
                done: done, total: total, checkpoint: checkpointDirectory)
        }
    }

    /// Reads, preprocesses and runs one batch (in a worker task); nil when cancelled (a cancelled batch is not
    /// journaled).
    private static func process(
        _ entries: [DiscoveredEntry], sequence: Int, buffer: BatchBuffer, source: Source, model: any FeatureModel,
        reuse: ReusableFeatures?, claims: ContentClaims
    ) -> BatchResult? {
        if Task.isCancelled { return nil }
        let clock = ContinuousClock()
        var readTime = Duration.zero
        var plans: [ImagePlan?] = []
        var networkImages: [ImageFile] = []
        var networkBytes: [[UInt8]] = []
        var claimedHere: Set<ContentKey> = []
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
            // sha256Hex always gives 64 hexadecimal digits.
            let key = ContentKey(hexadecimal: identity.sha256)!
            // The first image of the batch with bytes this batch claimed runs; its copies wait for it.
            if claims.claim(key, for: sequence) == sequence, claimedHere.insert(key).inserted {
                plans.append(.network(bytes: bytes, identity: identity, key: key))
                networkImages.append(image)
                networkBytes.append(bytes)
            } else {
                plans.append(.sameContent(identity: identity, key: key))
            }
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
                outcomes.append(.failure(path: problem.path, reason: problem.reasonText, content: nil))
            case .image(let image):
                switch plan {
                case .reused(let identity, let row):
                    outcomes.append(.reused(image, identity: identity, row: row))
                case .unreadable(let error):
                    outcomes.append(.failure(path: image.path, reason: error.reasonText, content: nil))
                case .network(_, let identity, let key):
                    if let failure = batch.failures[networkIndex] {
                        outcomes.append(.failure(path: image.path, reason: failure.reasonText, content: key))
                    } else {
                        outcomes.append(.features(image, offset: networkIndex, identity: identity, key: key))
                    }
                    networkIndex += 1
                case .sameContent(let identity, let key):
                    outcomes.append(.sameContent(image, identity: identity, key: key))
                case nil:
                    break
                }
            }
        }
        return BatchResult(
            sequence: sequence, outcomes: outcomes, buffer: buffer, readSeconds: batch.readSeconds + readTime.seconds,
            preprocessSeconds: batch.preprocessSeconds, networkSeconds: batch.networkSeconds)
    }

    /// Takes one delivered batch (on the collecting task, in order) and journals every held batch whose copies'
    /// features are now known; returns the buffers of the batches journaled.
    private mutating func collect(_ result: BatchResult) throws(ExtractionError) -> [BatchBuffer] {
        for outcome in result.outcomes {
            switch outcome {
            case .features(_, let offset, _, let key):
                computed[key] = .inBatch(sequence: result.sequence, offset: offset)
            case .failure(_, let reason, let key?):
                computed[key] = .failed(reason: reason)
            default:
                break
            }
        }
        held.append(result)
        var journaled: [BatchBuffer] = []
        while let first = held.first, first.outcomes.allSatisfy({ isKnown($0) }) {
            try write(first)
            held.removeFirst()
            journaled.append(first.buffer)
        }
        return journaled
    }

    /// Whether an outcome's features (or failure) are at hand.
    private func isKnown(_ outcome: BatchResult.Outcome) -> Bool {
        guard case .sameContent(_, _, let key) = outcome else { return true }
        return computed[key] != nil
    }

    /// Journals one batch's outcomes, in order.
    private mutating func write(_ result: BatchResult) throws(ExtractionError) {
        let featureCount = pipeline.model.featureCount
        var record = JournalRecord(
            readSeconds: result.readSeconds, preprocessSeconds: result.preprocessSeconds,
            networkSeconds: result.networkSeconds)
        var networkKeys: [ContentKey] = []
        func appendFeatures(_ image: ImageFile, identity: ImageIdentity, from buffer: BatchBuffer, offset: Int) {
            record.entries.append(.features(path: image.path, label: image.label))
            record.features.append(contentsOf: buffer.features[(offset * featureCount)..<((offset + 1) * featureCount)])
            record.identities.append(identity)
        }
        do throws(OutputError) {
            for outcome in result.outcomes {
                switch outcome {
                case .features(let image, let offset, let identity, let key):
                    record.networkRows.append(record.identities.count)
                    networkKeys.append(key)
                    appendFeatures(image, identity: identity, from: result.buffer, offset: offset)
                case .reused(let image, let identity, let row):
                    record.entries.append(.features(path: image.path, label: image.label))
                    reuse?.appendFeatures(ofRow: row, to: &record.features)
                    record.identities.append(identity)
                case .sameContent(let image, let identity, let key):
                    switch computed[key] {
                    case .inBatch(let sequence, let offset):
                        // The claimer is this batch or a later one still held (earlier ones are journaled).
                        let buffer = sequence == result.sequence
                            ? result.buffer : held.first { $0.sequence == sequence }?.buffer
                        guard let buffer else { throw Self.inconsistency(journal.path, "the batch computing \(identity.sha256) is gone") }
                        appendFeatures(image, identity: identity, from: buffer, offset: offset)
                    case .journaled(let offset):
                        record.entries.append(.features(path: image.path, label: image.label))
                        record.features += try journal.features(at: offset)
                        record.identities.append(identity)
                    case .failed(let reason):
                        record.entries.append(.failure(path: image.path, reason: reason))
                        failed += 1
                    case nil:
                        throw Self.inconsistency(journal.path, "no features for \(identity.sha256)")
                    }
                case .failure(let path, let reason, _):
                    record.entries.append(.failure(path: path, reason: reason))
                    failed += 1
                }
            }
            // Only network work is worth a sync (about 5 ms each: an update of 20 000 unchanged images in batches of
            // 16 would spend seconds in them); reused or copied rows are cheap to redo after a crash, and the next
            // synced record syncs them too.
            let start = try journal.append(record, sync: !record.networkRows.isEmpty)
            // From now on the batch's buffer is recycled: its computed features are read back from the journal.
            let offsets = JournalFormat.featureOffsets(of: record, featureCount: featureCount)
            for (row, key) in zip(record.networkRows, networkKeys) {
                computed[key] = .journaled(offset: start + offsets[row])
            }
        } catch {
            throw .output(error)
        }
        done += record.entries.count
        progress(ExtractionProgress(total: total, done: done, failed: failed))
    }

    /// A broken invariant of the pass (never expected): the batch is not journaled and the run stops.
    private static func inconsistency(_ journal: String, _ what: String) -> OutputError {
        OutputError(.write, path: journal, reason: "internal error while journaling copies: \(what)")
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
