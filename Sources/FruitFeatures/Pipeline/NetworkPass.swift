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
        case features(ImageFile, offset: Int)
        case failure(path: String, reason: String)
    }

    var index: Int
    var outcomes: [Outcome]
    var buffer: BatchBuffer
    var readSeconds: Double
    var preprocessSeconds: Double
    var networkSeconds: Double
}

/// The first pass of an extraction: images → raw features, in path order, into
/// `raw_features.parquet`, `errors.csv`, the spill file and the PCA accumulator.
struct NetworkPass<Source: ImageSource> {
    let pipeline: ExtractionPipeline<Source>
    let total: Int
    let progress: @Sendable (ExtractionProgress) -> Void

    private let spill: FeatureSpillWriter
    private let rawWriter: ParquetResultWriter
    private let errorsFile: AtomicFile
    private(set) var accumulator: PCAAccumulator
    private var pendingRows: [Float] = []

    private(set) var found = 0
    private(set) var processed = 0
    private(set) var failed = 0
    private(set) var readSeconds = 0.0
    private(set) var preprocessSeconds = 0.0
    private(set) var networkSeconds = 0.0

    init(
        pipeline: ExtractionPipeline<Source>, spillPath: String, rawPath: String, errorsPath: String, total: Int,
        progress: @escaping @Sendable (ExtractionProgress) -> Void
    ) throws(ExtractionError) {
        self.pipeline = pipeline
        self.total = total
        self.progress = progress
        let featureCount = pipeline.extractor.featureCount
        do throws(OutputError) {
            spill = try FeatureSpillWriter(path: spillPath, dimension: featureCount)
            rawWriter = try ParquetResultWriter(
                destination: rawPath, featureCount: featureCount, options: pipeline.settings.parquet)
            errorsFile = try AtomicFile(destination: errorsPath)
            try errorsFile.write("path,reason\n")
        } catch {
            throw .output(error)
        }
        do {
            accumulator = try PCAAccumulator(dimension: featureCount)
        } catch {
            throw .pca(error)
        }
    }

    /// Runs the network over every image, `jobs + 1` batches in flight.
    mutating func run() async throws(ExtractionError) {
        let settings = pipeline.settings
        let extractor = pipeline.extractor
        let preprocessor = pipeline.preprocessor
        let source = pipeline.source
        let window = settings.jobs + 1
        // Batches hold whole network groups, so that groups (and results) do not depend on the batch size.
        let group = max(1, extractor.plan.groupSize)
        let batchSize = (settings.batchSize + group - 1) / group * group
        var iterator = source.makeIterator()
        var freeBuffers: [BatchBuffer] = []
        var waiting: [Int: BatchResult] = [:]
        var nextToWrite = 0
        var nextToStart = 0
        var exhausted = false

        do {
            try await withThrowingTaskGroup(of: BatchResult.self) { group in
                func startBatch() -> Bool {
                    guard !exhausted else { return false }
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
                        try Task.checkCancellation()
                        return NetworkPass.process(
                            entries, index: index, buffer: buffer, source: source, preprocessor: preprocessor,
                            extractor: extractor)
                    }
                    return true
                }

                var inFlight = 0
                while inFlight < window, startBatch() { inFlight += 1 }
                while let result = try await group.next() {
                    inFlight -= 1
                    waiting[result.index] = result
                    while let ready = waiting.removeValue(forKey: nextToWrite) {
                        try collect(ready)
                        freeBuffers.append(ready.buffer)
                        nextToWrite += 1
                    }
                    while inFlight < window, startBatch() { inFlight += 1 }
                }
            }
        } catch let error as ExtractionError {
            discard()
            throw error
        } catch is CancellationError {
            discard()
            throw .cancelled
        } catch {
            discard()
            throw .invalidSettings("\(error)")
        }
        do {
            try flushPendingRows()
        } catch {
            discard()
            throw error
        }
    }

    /// Completes raw_features.parquet and errors.csv.
    mutating func finish() throws(ExtractionError) {
        do throws(OutputError) {
            try spill.close()
            try rawWriter.finish()
            try errorsFile.commit()
        } catch {
            discard()
            throw .output(error)
        }
    }

    private func discard() {
        rawWriter.discard()
        errorsFile.discard()
    }

    /// Reads, preprocesses and runs one batch (in a worker task).
    private static func process(
        _ entries: [DiscoveredEntry], index: Int, buffer: BatchBuffer, source: Source, preprocessor: any Preprocessor,
        extractor: MobileNetV2Extractor
    ) -> BatchResult {
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
                let bytes: [UInt8]
                // Every image keeps its slot, failed ones as zeros: an image's position in its network
                // group then depends only on its place in the path order, so its features do too.
                let slot = UnsafeMutableBufferPointer(rebasing: buffer.tensors[(slots * inputCount)..<((slots + 1) * inputCount)])
                slots += 1
                do {
                    bytes = try source.contents(of: image)
                } catch {
                    readTime += clock.now - readStart
                    outcomes.append(.failure(path: image.path, reason: error.reasonText))
                    slot.update(repeating: 0)
                    continue
                }
                let preprocessStart = clock.now
                readTime += preprocessStart - readStart
                do {
                    try preprocessor.preprocess(bytes, path: image.path, into: slot)
                    outcomes.append(.features(image, offset: slots - 1))
                } catch {
                    outcomes.append(.failure(path: image.path, reason: error.reasonText))
                    slot.update(repeating: 0)
                }
                preprocessTime += clock.now - preprocessStart
            }
        }
        let networkStart = clock.now
        do {
            try extractor.features(
                batch: UnsafeBufferPointer(rebasing: buffer.tensors[..<(slots * inputCount)]), count: slots,
                into: buffer.features)
        } catch {
            // The buffers are sized from the extractor itself, so this cannot happen; fail the images, not the run.
            outcomes = outcomes.map { outcome in
                if case .features(let image, _) = outcome { .failure(path: image.path, reason: error.description) } else { outcome }
            }
        }
        return BatchResult(
            index: index, outcomes: outcomes, buffer: buffer, readSeconds: readTime.seconds,
            preprocessSeconds: preprocessTime.seconds, networkSeconds: (clock.now - networkStart).seconds)
    }

    /// Writes one batch's results, in order (on the collecting task).
    private mutating func collect(_ result: BatchResult) throws(ExtractionError) {
        let featureCount = pipeline.extractor.featureCount
        var rows: [FeatureRow] = []
        var errorLines = ""
        do throws(OutputError) {
            for outcome in result.outcomes {
                switch outcome {
                case .features(let image, let offset):
                    let features = UnsafeBufferPointer(
                        rebasing: result.buffer.features[(offset * featureCount)..<((offset + 1) * featureCount)])
                    try spill.append(path: image.path, label: image.label, features: features)
                    rows.append(FeatureRow(path: image.path, label: image.label, features: Array(features)))
                    pendingRows.append(contentsOf: features)
                    processed += 1
                    found += 1
                case .failure(let path, let reason):
                    errorLines += CSVResultWriter.quoted(path) + "," + CSVResultWriter.quoted(reason) + "\n"
                    failed += 1
                    found += 1
                }
            }
            try rawWriter.write(rows)
            try errorsFile.write(errorLines)
        } catch {
            throw .output(error)
        }
        if pendingRows.count >= ExtractionPipeline<Source>.blockRows * featureCount {
            try flushPendingRows(keepingPartialBlock: true)
        }
        readSeconds += result.readSeconds
        preprocessSeconds += result.preprocessSeconds
        networkSeconds += result.networkSeconds
        progress(ExtractionProgress(total: total, done: processed + failed, failed: failed))
    }

    /// Feeds the PCA accumulator whole blocks of rows (and, at the end, the last partial block).
    private mutating func flushPendingRows(keepingPartialBlock: Bool = false) throws(ExtractionError) {
        let featureCount = pipeline.extractor.featureCount
        let blockFloats = ExtractionPipeline<Source>.blockRows * featureCount
        var start = 0
        while pendingRows.count - start >= blockFloats || (!keepingPartialBlock && pendingRows.count > start) {
            let end = min(start + blockFloats, pendingRows.count)
            do {
                try pendingRows[start..<end].withUnsafeBufferPointer { block throws(PCAError) in
                    try accumulator.add(block, rowCount: (end - start) / featureCount)
                }
            } catch {
                throw .pca(error)
            }
            start = end
        }
        pendingRows.removeFirst(start)
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
