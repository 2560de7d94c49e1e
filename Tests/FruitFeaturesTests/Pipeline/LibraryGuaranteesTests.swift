import Foundation
import Testing
@testable import FruitFeatures

/// What the library guarantees a host: results independent of BLAS threading and batching, CPU work off the
/// cooperative pool, bounded idle memory.
@Suite(.serialized) struct LibraryGuaranteesTests {
    static let weights = FixturePaths.root.appendingPathComponent("weights/mobilenet_v2_1.0_224_random.h5").path

    @Test func theProjectionIsTheSameBitsForAnyRowCountAndBLASThreading() throws {
        var generator = SeededGenerator(seed: 7)
        let d = 67, n = 300
        let rows = (0..<(n * d)).map { _ in Float.random(in: -3...3, using: &generator) }
        let saved = BLASThreading.threadCount
        defer { BLASThreading.setThreadCount(saved) }
        var fits: [PCAModel] = []
        var projections: [[Float]] = []
        for threads in [1, 2, 4] {
            BLASThreading.setThreadCount(threads)
            var statistics = try PCAAccumulator(dimension: d)
            try rows.withUnsafeBufferPointer { try statistics.add($0, rowCount: n) }
            let model = try LAPACKPCA(components: .count(9), centring: .centred).fit(statistics)
            fits.append(model)
            projections.append(try model.project(rows, rowCount: n))
        }
        for other in 1..<fits.count {
            #expect(fits[0].components == fits[other].components && fits[0].mean == fits[other].mean)
            #expect(fits[0].explainedVariance == fits[other].explainedVariance)
            #expect(projections[0] == projections[other])
        }
        // The caller's setting is left as it was.
        #expect(BLASThreading.threadCount == 4)
        // Row by row (transform, the recognizer) gives the bits of the whole block (extract).
        let model = fits[0]
        for row in [0, 1, 150, 299] {
            let single = try model.project(Array(rows[(row * d)..<((row + 1) * d)]), rowCount: 1)
            #expect(single == Array(projections[0][(row * 9)..<((row + 1) * 9)]))
        }
        // Blocks of every length up to 9 (rows go four at a time, the rest one by one): each row its own bits.
        for count in 1...9 {
            let first = 137
            let block = try model.project(Array(rows[(first * d)..<((first + count) * d)]), rowCount: count)
            #expect(block == Array(projections[0][(first * 9)..<((first + count) * 9)]), "\(count) rows")
        }
        // The fixed-order dot product against the plain loop.
        for length in [0, 1, 3, 4, 5, 64, 1280, 1283] {
            let a = (0..<length).map { _ in Double.random(in: -1...1, using: &generator) }
            let b = (0..<length).map { _ in Double.random(in: -1...1, using: &generator) }
            let (fast, plain) = a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in (PCAModel.dot(a, b), PCAModel.referenceDot(a, b)) }
            }
            let scale = zip(a, b).reduce(0) { $0 + abs($1.0 * $1.1) }
            #expect(abs(fast - plain) <= 1e-14 * max(scale, 1), "length \(length)")
        }
    }

    /// Instants recorded by concurrent tasks.
    final class Timeline: @unchecked Sendable {
        private let lock = NSLock()
        private var events: [String: ContinuousClock.Instant] = [:]
        func record(_ name: String) {
            lock.lock()
            if events[name] == nil { events[name] = .now }
            lock.unlock()
        }
        subscript(name: String) -> ContinuousClock.Instant? {
            lock.lock()
            defer { lock.unlock() }
            return events[name]
        }
    }

    /// More batches in flight than the cooperative pool has threads, each running until a plain pool task has
    /// run (or for at most a minute). If the batches held the pool's threads, the task could run only once they
    /// stop at the deadline. (Other suites running at the same time may delay the task, never by a minute.)
    @Test func aPoolTaskFinishesWhileALargeBatchRuns() async throws {
        let model = try FeatureModelLoader.load(weightsAt: Self.weights)
        let photo = Array(try Data(contentsOf: FixturePaths.root.appendingPathComponent("images/Apple/0_100.jpg")))
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let timeline = Timeline()
        let deadline = ContinuousClock.now + .seconds(60)
        let extraction = Task {
            try await onComputeThreads { () async throws -> Void in
                var handed = 0
                _ = try await FeatureBatchRunner.run(
                    window: cores + 1,
                    next: { () -> Int? in
                        guard handed < cores + 1 else { return nil }
                        handed += 1
                        return handed
                    },
                    process: { _ -> Int? in
                        timeline.record("batch started")
                        let buffer = BatchBuffer(capacity: 24, model: model)
                        repeat {
                            _ = model.extractBatch(count: 24, into: buffer, name: { _ in "photo" },
                                                   reading: { _, body in photo.withUnsafeBytes(body) })
                        } while timeline["pool task finished"] == nil && ContinuousClock.now < deadline
                        timeline.record("first batch finished")
                        return 0
                    },
                    deliver: { _ in })
            }
        }
        while timeline["batch started"] == nil { await Task.yield() }
        // A plain task on the cooperative pool, as a service's request handler would be.
        await Task.detached { timeline.record("pool task finished") }.value
        try await extraction.value
        let poolTask = try #require(timeline["pool task finished"])
        let firstBatch = try #require(timeline["first batch finished"])
        #expect(poolTask < firstBatch, "the pool task waited for a batch to finish")
        #expect(firstBatch < deadline, "the batches ran to the deadline: the pool task could not run beside them")
    }

    @Test func idleScratchMemoryIsBounded() async throws {
        let extractor = try MobileNetV2Extractor(weightsAt: URL(fileURLWithPath: Self.weights))
        let input = [Float](repeating: 0.1, count: extractor.inputCount)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        // Many more concurrent calls than cores, on threads of their own: each borrows a scratch at once.
        DispatchQueue.concurrentPerform(iterations: cores * 4) { _ in
            _ = try? extractor.features(of: input)
        }
        #expect(extractor.idleScratchCount >= 1)
        #expect(extractor.idleScratchCount <= cores)
    }
}
