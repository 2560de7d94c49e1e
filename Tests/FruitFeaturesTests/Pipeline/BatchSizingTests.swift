import Testing
@testable import FruitFeatures

/// Batches shrink near the end of a run so the workers finish together, but not below ≈ 30 ms of work.
@Suite struct BatchSizingTests {
    @Test func fullBatchesWhilePlentyRemain() {
        #expect(BatchSizing.size(remaining: 1000, jobs: 2, batchSize: 16, secondsPerImage: nil) == 16)
        #expect(BatchSizing.size(remaining: 64, jobs: 2, batchSize: 16, secondsPerImage: 0.06) == 16)
        // One worker has nobody to wait for.
        #expect(BatchSizing.size(remaining: 3, jobs: 1, batchSize: 16, secondsPerImage: 0.06) == 16)
    }

    @Test func theLastBatchesTakeAShareOfWhatRemains() {
        #expect(BatchSizing.size(remaining: 40, jobs: 2, batchSize: 16, secondsPerImage: 0.06) == 10)
        #expect(BatchSizing.size(remaining: 3, jobs: 2, batchSize: 16, secondsPerImage: 0.06) == 1)
        // More entries than the listing counted (the input grew meanwhile): full batches.
        #expect(BatchSizing.size(remaining: 0, jobs: 2, batchSize: 16, secondsPerImage: 0.06) == 16)
        #expect(BatchSizing.size(remaining: -3, jobs: 2, batchSize: 16, secondsPerImage: nil) == 16)
        // Cheap images keep batches of ≈ 30 ms in whole groups of eight (8 at 4 or 5 ms, 16 at 3 ms).
        #expect(BatchSizing.size(remaining: 10, jobs: 2, batchSize: 16, secondsPerImage: 0.004) == 8)
        #expect(BatchSizing.size(remaining: 10, jobs: 2, batchSize: 16, secondsPerImage: 0.005) == 8)
        #expect(BatchSizing.size(remaining: 10, jobs: 2, batchSize: 32, secondsPerImage: 0.003) == 16)
        #expect(BatchSizing.size(remaining: 10, jobs: 2, batchSize: 4, secondsPerImage: 0.004) == 4)
        // A dearer image: three of 12 ms make the 30 ms, below a group of eight.
        #expect(BatchSizing.size(remaining: 4, jobs: 2, batchSize: 16, secondsPerImage: 0.012) == 3)
    }

    /// Workers taking the next batch whenever they are free (as `FeatureBatchRunner` hands them out), on images
    /// of equal cost: the run ends within one image of a perfect split. With fixed batches of 16, 72 phone
    /// photos on two workers end after 40 photos' time instead of 36.
    @Test(arguments: [2, 3])
    func workersFinishTogether(jobs: Int) {
        for count in 1...200 {
            let end = Self.makespan(images: count, jobs: jobs, costPerImage: 0.06) { remaining, measured in
                BatchSizing.size(remaining: remaining, jobs: jobs, batchSize: 16, secondsPerImage: measured)
            }
            let ideal = (Double(count) / Double(jobs)).rounded(.up) * 0.06
            #expect(end <= ideal + 0.06 + 1e-9, "\(count) images: \(end) s against \(ideal) s")
        }
        let fixed = Self.makespan(images: 72, jobs: 2, costPerImage: 0.06) { _, _ in 16 }
        #expect(abs(fixed - 40 * 0.06) < 1e-9)
    }

    /// The end of a simulated run, handed out as `FeatureBatchRunner` does: `jobs + 1` batches in flight (the
    /// running ones and one queued), each sized by `size(remaining, measured cost)` when it is handed out, the
    /// cost being known once a batch has finished; a worker that finishes takes the oldest queued batch.
    static func makespan(
        images: Int, jobs: Int, costPerImage: Double, size: (Int, Double?) -> Int
    ) -> Double {
        var remaining = images
        var queued: [Int] = []
        var inFlight = 0
        var measured: Double?
        func handOut() {
            while inFlight < jobs + 1, remaining > 0 {
                let batch = min(remaining, max(1, size(remaining, measured)))
                queued.append(batch)
                remaining -= batch
                inFlight += 1
            }
        }
        handOut()
        var busyUntil: [Int: Double] = [:]
        for worker in 0..<jobs where !queued.isEmpty {
            busyUntil[worker] = Double(queued.removeFirst()) * costPerImage
        }
        var end = 0.0
        while let (worker, now) = busyUntil.min(by: { $0.value < $1.value }) {
            busyUntil[worker] = nil
            end = max(end, now)
            inFlight -= 1
            measured = costPerImage
            handOut()
            if !queued.isEmpty { busyUntil[worker] = now + Double(queued.removeFirst()) * costPerImage }
        }
        return end
    }
}
