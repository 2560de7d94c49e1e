import Foundation

/// Network input and output for up to `capacity` images, owned by one task at a time.
///
/// Allocated once per in-flight batch and handed between the collecting task and one worker task, never
/// shared: hence `@unchecked Sendable`.
final class BatchBuffer: @unchecked Sendable {
    /// Images the buffer holds.
    let capacity: Int
    let inputCount: Int
    let featureCount: Int
    // tensors: (capacity, H, W, C); features: (capacity, featureCount)
    let tensors: UnsafeMutableBufferPointer<Float>
    let features: UnsafeMutableBufferPointer<Float>

    init(capacity: Int, inputCount: Int, featureCount: Int) {
        self.capacity = capacity
        self.inputCount = inputCount
        self.featureCount = featureCount
        tensors = .allocate(capacity: capacity * inputCount)
        features = .allocate(capacity: capacity * featureCount)
    }

    convenience init(capacity: Int, model: any FeatureModel) {
        self.init(capacity: capacity, inputCount: model.inputShape.count, featureCount: model.featureCount)
    }

    /// Image `index`'s feature row.
    func featureRow(_ index: Int) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(rebasing: features[(index * featureCount)..<((index + 1) * featureCount)])
    }

    deinit {
        tensors.deallocate()
        features.deallocate()
    }
}

/// What one batch of encoded images gave: per image, nil when its features are in the buffer's row of the
/// same index, else why not; and where the time went.
struct EncodedBatchOutcome {
    var failures: [(any Error)?]
    var readSeconds = 0.0
    var preprocessSeconds = 0.0
    var networkSeconds = 0.0
}

/// An image argument that is not an image at all (a NULL pointer with a length, offsets out of order...).
package struct InvalidImageArgument: Error, CustomStringConvertible {
    package var description: String

    package init(description: String) {
        self.description = description
    }
}

extension FeatureModel {
    /// The one path from encoded images to features: reads, preprocesses and runs the network over `count`
    /// images (at most `buffer.capacity`), the grouped stage included.
    ///
    /// Image `i`'s features go to `buffer`'s row `i`; a failed image's row is left as it was. Only images that
    /// preprocess take a network slot: features never depend on their neighbours.
    ///
    /// - Parameters:
    ///   - name: names image `i` in errors.
    ///   - reading: calls its body with image `i`'s encoded bytes, or throws why they cannot be had.
    ///   - isCancelled: checked before the batch and before the network; true returns nil.
    func extractBatch(
        count: Int, into buffer: BatchBuffer, name: (Int) -> String,
        reading: (Int, (UnsafeRawBufferPointer) -> Void) throws -> Void,
        isCancelled: () -> Bool = { false }
    ) -> EncodedBatchOutcome? {
        precondition(count <= buffer.capacity, "a batch larger than its buffer")
        if isCancelled() { return nil }
        let clock = ContinuousClock()
        let inputCount = inputShape.count
        var outcome = EncodedBatchOutcome(failures: Array(repeating: nil, count: count))
        var readTime = Duration.zero
        var preprocessTime = Duration.zero
        // slotOf[i]: image i's row in the packed network input, or nil.
        var slotOf = [Int?](repeating: nil, count: count)
        var slots = 0
        for index in 0..<count {
            let path = name(index)
            let slot = UnsafeMutableBufferPointer(
                rebasing: buffer.tensors[(slots * inputCount)..<((slots + 1) * inputCount)])
            let readStart = clock.now
            var preprocessing = Duration.zero
            var preprocessError: ImageError?
            do {
                try reading(index) { bytes in
                    let start = clock.now
                    do throws(ImageError) {
                        try preprocess(bytes, path: path, into: slot)
                    } catch {
                        preprocessError = error
                    }
                    preprocessing = clock.now - start
                }
            } catch {
                outcome.failures[index] = error
            }
            readTime += clock.now - readStart - preprocessing
            preprocessTime += preprocessing
            if let preprocessError { outcome.failures[index] = preprocessError }
            if outcome.failures[index] == nil {
                slotOf[index] = slots
                slots += 1
            }
        }
        // The network is the expensive step: skip it once cancelled.
        if isCancelled() { return nil }
        let networkStart = clock.now
        do throws(FeatureExtractionError) {
            try features(
                batch: UnsafeBufferPointer(rebasing: buffer.tensors[..<(slots * inputCount)]), count: slots,
                into: buffer.features)
            // Packed rows → image rows, last first: slotOf[i] ≤ i, so no row is overwritten before it is moved.
            for index in stride(from: count - 1, through: 0, by: -1) {
                guard let slot = slotOf[index], slot != index else { continue }
                _ = buffer.featureRow(index).update(fromContentsOf: buffer.featureRow(slot))
            }
        } catch {
            // The buffers are sized from the model itself, so this cannot happen; fail the images, not the run.
            for index in 0..<count where slotOf[index] != nil { outcome.failures[index] = error }
        }
        outcome.readSeconds = readTime.seconds
        outcome.preprocessSeconds = preprocessTime.seconds
        outcome.networkSeconds = (clock.now - networkStart).seconds
        return outcome
    }

    /// The features of encoded images (whole JPEG files), in order: each a `featureCount`-float vector or the
    /// reason the image could not be used.
    ///
    /// Runs on the calling thread, a few images at a time through the network's grouped stage, so memory does
    /// not grow with the number of images. Use ``FeatureBatchRunner`` to spread many images over cores.
    ///
    /// - Parameter names: name each image in errors (default: its index).
    public func features<Bytes: ContiguousBytes>(
        ofEncoded images: [Bytes], names: [String]? = nil
    ) -> [Result<[Float], ImageError>] {
        let names = names ?? images.indices.map { "image \($0)" }
        precondition(names.count == images.count, "one name per image")
        let chunk = FeatureBatchRunner.defaultBatchSize
        let buffer = BatchBuffer(capacity: min(chunk, max(images.count, 1)), model: self)
        var results: [Result<[Float], ImageError>] = []
        results.reserveCapacity(images.count)
        var start = 0
        while start < images.count {
            let count = min(buffer.capacity, images.count - start)
            let outcome = extractBatch(
                count: count, into: buffer, name: { names[start + $0] },
                reading: { index, body in images[start + index].withUnsafeBytes(body) })
            for index in 0..<count {
                results.append(featureResult(outcome?.failures[index], row: buffer.featureRow(index), name: names[start + index]))
            }
            start += count
        }
        return results
    }

    /// The features of `count` encoded images held in caller memory (the C ABI's batch function): image `i`'s
    /// bytes are `image(i)` (nil when the caller's description of it is invalid), its features go to `output`'s
    /// row `i` (NaN when it failed).
    ///
    /// - Returns: per image, nil on success or the error (``ImageError``, ``InvalidImageArgument`` or
    ///   ``FeatureExtractionError``).
    package func features(
        count: Int, encoded image: (Int) -> Result<UnsafeRawBufferPointer, InvalidImageArgument>,
        into output: UnsafeMutableBufferPointer<Float>
    ) -> [(any Error)?] {
        precondition(output.count >= count * featureCount, "output too small")
        let buffer = BatchBuffer(capacity: min(FeatureBatchRunner.defaultBatchSize, max(count, 1)), model: self)
        var failures: [(any Error)?] = []
        failures.reserveCapacity(count)
        var start = 0
        while start < count {
            let chunk = min(buffer.capacity, count - start)
            let outcome = extractBatch(
                count: chunk, into: buffer, name: { _ in "" },
                reading: { index, body in body(try image(start + index).get()) })
            for index in 0..<chunk {
                let failure = outcome?.failures[index]
                let row = UnsafeMutableBufferPointer(
                    rebasing: output[((start + index) * featureCount)..<((start + index + 1) * featureCount)])
                if failure == nil {
                    _ = row.update(fromContentsOf: buffer.featureRow(index))
                } else {
                    // NaN rows: a failed image's features cannot be mistaken for real ones.
                    row.initialize(repeating: .nan)
                }
                failures.append(failure)
            }
            start += chunk
        }
        return failures
    }
}

/// An image's features copied out of its buffer row, or its failure as an ``ImageError``.
func featureResult(_ failure: (any Error)?, row: UnsafeMutableBufferPointer<Float>, name: String) -> Result<[Float], ImageError> {
    switch failure {
    case nil: .success(Array(row))
    case let error as ImageError: .failure(error)
    case let error?: .failure(ImageError(path: name, reason: .unsupported("\(error)")))
    }
}

/// How many images the next batch of a run takes, so that the workers finish together.
///
/// Batches are whole units of work: with `jobs` workers and batches of equal size, the last round leaves some
/// workers idle while others finish a full batch. On 72 phone photos (≈ 60 ms each) in batches of 16 on two
/// workers, one worker got 40 photos and the other 32: a tenth of the run with a core idle. So near the end a batch
/// takes a share of what remains (guided scheduling: remaining ÷ 2·jobs), shrinking to single images; but never
/// fewer images than make ≈ 30 ms of measured work, rounded up to whole groups of eight where that is four images
/// or more, so cheap 100×100 images keep the network's groups whole.
/// An image's features never depend on its batch, so the sizes change no result.
package enum BatchSizing {
    /// The work below which a batch is not split further.
    static let smallestBatchSeconds = 0.03

    /// Images in the next batch: `batchSize` while at least `2 · jobs` batches' worth remain, then a
    /// `1 / (2 · jobs)` share of the `remaining` entries, at least ``smallestBatchSeconds`` of work at the
    /// measured `secondsPerImage` (single images before anything is measured).
    package static func size(remaining: Int, jobs: Int, batchSize: Int, secondsPerImage: Double?) -> Int {
        let batchSize = max(1, batchSize)
        // One job has nobody to wait for; nothing left by the count means the input grew since it was listed.
        guard jobs > 1, remaining > 0 else { return batchSize }
        var smallest = 1
        if let perImage = secondsPerImage, perImage > 0 {
            smallest = Int(min(Double(batchSize), (smallestBatchSeconds / perImage).rounded(.up)))
            // Where the network dominates (a few milliseconds an image), whole groups of eight run fastest.
            if smallest >= 4 { smallest = (smallest + 7) / 8 * 8 }
        }
        let share = (remaining + 2 * jobs - 1) / (2 * jobs)
        return min(batchSize, max(smallest, share))
    }
}

/// The measured cost of a run's images so far (read, preprocessing and network seconds per image), shared by its
/// worker tasks, for ``BatchSizing``.
final class BatchCostMeter: @unchecked Sendable {
    // Unchecked: `seconds` and `images` are only touched under `lock` (NSLock: the library runs on macOS 13).
    private let lock = NSLock()
    private var seconds = 0.0
    private var images = 0

    /// Adds a finished batch.
    func record(seconds batchSeconds: Double, images batchImages: Int) {
        guard batchImages > 0 else { return }
        lock.lock()
        defer { lock.unlock() }
        seconds += batchSeconds
        images += batchImages
    }

    /// Seconds per image so far; nil before any image finished.
    var secondsPerImage: Double? {
        lock.lock()
        defer { lock.unlock() }
        return images > 0 ? seconds / Double(images) : nil
    }
}

/// Runs batches of images through a ``FeatureModel`` on several worker tasks, a bounded number at once, and
/// hands their outcomes back in order on the calling task.
///
/// `extract`'s network pass, `transform` and ``FittedPipeline/features(ofFilesAt:jobs:)`` all run this way, so
/// that features are identical whatever the job count or batch size (an image's features never depend on the
/// images sharing its batch).
package enum FeatureBatchRunner {
    /// Images per batch when the caller does not say: a multiple of MobileNetV2's group size (8).
    package static let defaultBatchSize = 16

    /// Runs `process` over the work `next` hands out, at most `window` at once, and calls `deliver` with each
    /// output in the order the work was handed out.
    ///
    /// `next` and `deliver` run on the calling task; `process` in worker tasks. Once the task is cancelled no
    /// new work starts; `process` returning nil marks its batch abandoned (cancelled), after which nothing
    /// more is delivered.
    /// - Returns: false when a batch was abandoned.
    static func run<Work: Sendable, Output: Sendable>(
        window: Int, next: () -> Work?, process: @escaping @Sendable (Work) -> Output?,
        deliver: (Output) throws -> Void
    ) async throws -> Bool {
        var waiting: [Int: Output] = [:]
        var nextToDeliver = 0
        var nextToStart = 0
        var exhausted = false
        var abandoned = false
        try await withThrowingTaskGroup(of: (Int, Output?).self) { group in
            func start() -> Bool {
                guard !exhausted, !abandoned, !Task.isCancelled else { return false }
                guard let work = next() else {
                    exhausted = true
                    return false
                }
                let index = nextToStart
                nextToStart += 1
                group.addTask { (index, process(work)) }
                return true
            }
            var inFlight = 0
            while inFlight < window, start() { inFlight += 1 }
            while let (index, output) = try await group.next() {
                inFlight -= 1
                guard let output else {
                    abandoned = true
                    continue
                }
                waiting[index] = output
                while !abandoned, let ready = waiting.removeValue(forKey: nextToDeliver) {
                    try deliver(ready)
                    nextToDeliver += 1
                }
                while inFlight < window, start() { inFlight += 1 }
            }
        }
        return !abandoned
    }

    /// The features of the image files at `paths`, in order, using `jobs` cores: each a `featureCount`-float
    /// vector or the reason the file could not be used (read with ``DirectoryImageSource``'s size limit).
    ///
    /// Runs on the library's own threads, never on the cooperative pool.
    package static func features(
        ofFilesAt paths: [String], model: any FeatureModel, jobs: Int = ProcessInfo.processInfo.activeProcessorCount,
        batchSize: Int = defaultBatchSize
    ) async -> [Result<[Float], ImageError>] {
        await onComputeThreads { () async -> [Result<[Float], ImageError>] in
            await featuresInWorkers(ofFilesAt: paths, model: model, jobs: jobs, batchSize: batchSize)
        }
    }

    private static func featuresInWorkers(
        ofFilesAt paths: [String], model: any FeatureModel, jobs: Int, batchSize: Int
    ) async -> [Result<[Float], ImageError>] {
        let batchSize = max(1, batchSize)
        var results: [Result<[Float], ImageError>] = []
        results.reserveCapacity(paths.count)
        var free: [BatchBuffer] = []
        var start = 0
        let meter = BatchCostMeter()
        typealias Work = (paths: ArraySlice<String>, buffer: BatchBuffer)
        typealias Output = (results: [Result<[Float], ImageError>], buffer: BatchBuffer)
        _ = try? await run(
            window: max(1, jobs) + 1,
            next: { () -> Work? in
                guard start < paths.count else { return nil }
                // The last batches shrink so that the jobs finish together, as in `extract`.
                let size = BatchSizing.size(
                    remaining: paths.count - start, jobs: jobs, batchSize: batchSize,
                    secondsPerImage: meter.secondsPerImage)
                let end = min(start + size, paths.count)
                defer { start = end }
                return (paths[start..<end], free.popLast() ?? BatchBuffer(capacity: batchSize, model: model))
            },
            process: { work -> Output? in
                let batch = Array(work.paths)
                guard let outcome = model.extractBatch(
                    count: batch.count, into: work.buffer, name: { batch[$0] },
                    reading: { index, body in
                        do throws(DiscoveryError) {
                            try DirectoryImageSource.contents(ofFileAt: batch[index]).withUnsafeBytes(body)
                        } catch {
                            throw ImageError(readFailure: error)
                        }
                    },
                    isCancelled: { Task.isCancelled })
                else { return nil }
                meter.record(seconds: outcome.readSeconds + outcome.preprocessSeconds + outcome.networkSeconds,
                             images: batch.count)
                let results = batch.indices.map { index in
                    featureResult(outcome.failures[index], row: work.buffer.featureRow(index), name: batch[index])
                }
                return (results, work.buffer)
            },
            deliver: { output in
                results += output.results
                free.append(output.buffer)
            })
        // Cancelled: the images not reached are reported as such.
        while results.count < paths.count {
            results.append(.failure(ImageError(path: paths[results.count], reason: .unreadable("cancelled"))))
        }
        return results
    }
}
