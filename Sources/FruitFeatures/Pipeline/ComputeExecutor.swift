import Foundation

/// The threads FruitFeatures runs its CPU-heavy and blocking work on, so that it never occupies Swift's
/// cooperative pool: a host service's request handlers, timers and health checks keep running while a large
/// batch, an `fdatasync` or the LAPACK fit is under way.
///
/// One process-wide set of dedicated threads (as many as the machine has cores), used as a task executor
/// preference by the library's async entry points (``ExtractionPipeline/run(into:input:pattern:progress:)``,
/// ``FeatureBatchRunner/features(ofFilesAt:model:jobs:batchSize:)``, ``FittedPipeline/features(ofFilesAt:jobs:)``).
/// The threads start on first use and live as long as the process. Jobs run in the order they were enqueued.
@available(macOS 15.0, *)
final class ComputeExecutor: TaskExecutor, @unchecked Sendable {
    // Unchecked: `queue` and `head` are only touched under `condition`.
    private let condition = NSCondition()
    private var queue: [UnownedJob] = []
    private var head = 0

    /// The library's executor: one thread per core.
    static let shared = ComputeExecutor(threadCount: ProcessInfo.processInfo.activeProcessorCount)

    private init(threadCount: Int) {
        for index in 0..<max(1, threadCount) {
            let thread = Thread { [unowned self] in self.work() }
            thread.name = "FruitFeatures compute \(index)"
            // The network's kernels run synchronously on this stack: give it the size of a main thread's.
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        queue.append(job)
        condition.signal()
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            while head == queue.count { condition.wait() }
            let job = queue[head]
            head += 1
            if head > 1024 && head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}

/// Runs `operation` with the library's compute threads as the task executor preference (where available), so it
/// and the child tasks it creates run off the cooperative pool.
func onComputeThreads<T, Failure: Error>(_ operation: () async throws(Failure) -> T) async throws(Failure) -> T {
    if #available(macOS 15.0, *) {
        return try await withTaskExecutorPreference(ComputeExecutor.shared, operation: operation)
    } else {
        return try await operation()
    }
}
