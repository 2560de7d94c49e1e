import NIOConcurrencyHelpers
import NIOPosix

/// Bounds the work the service takes on: places for requests holding a body, and threads for the CPU work.
///
/// A request takes a place once its headers are read and its size and key are acceptable, and keeps it until it
/// is answered; at most `concurrency + queueDepth` places exist, so at most that many bodies are held at once
/// (Docs/serve.md: the memory formula). Its photo takes one of `concurrency` work threads only once the whole body
/// has arrived: a client that stalls mid-body holds a place until the request timeout, never a work thread.
/// The network runs on those threads, never on the NIO event loops or Swift's cooperative pool.
public final class WorkQueue: Sendable {
    /// Photos in decode and network at once.
    public let concurrency: Int
    /// Places beyond the working ones.
    public let queueDepth: Int
    private let threads: NIOThreadPool
    private let counts = NIOLockedValueBox(Counts())

    private struct Counts {
        var held = 0
        var submitted = 0
        var running = 0
    }

    /// A queue with `concurrency` work threads (started now; ``shutdown()`` stops them).
    public init(concurrency: Int, queueDepth: Int) {
        self.concurrency = concurrency
        self.queueDepth = queueDepth
        threads = NIOThreadPool(numberOfThreads: concurrency)
        threads.start()
    }

    /// Takes a place, or returns false when all `concurrency + queueDepth` are held (the caller answers 503).
    func takePlace() -> Bool {
        counts.withLockedValue { counts in
            guard counts.held < concurrency + queueDepth else { return false }
            counts.held += 1
            return true
        }
    }

    /// Gives a place back.
    func releasePlace() {
        counts.withLockedValue { $0.held -= 1 }
    }

    /// Places held now (receiving, waiting or working).
    public var placesHeld: Int { counts.withLockedValue { $0.held } }

    /// Requests whose body has arrived and that wait for a work thread.
    public var waiting: Int { counts.withLockedValue { $0.submitted - $0.running } }

    /// Photos on a work thread now.
    public var running: Int { counts.withLockedValue { $0.running } }

    /// Runs `work` on a work thread, waiting for one to be free.
    func run<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
        counts.withLockedValue { $0.submitted += 1 }
        defer { counts.withLockedValue { $0.submitted -= 1 } }
        return try await threads.runIfActive { [counts] in
            counts.withLockedValue { $0.running += 1 }
            defer { counts.withLockedValue { $0.running -= 1 } }
            return try work()
        }
    }

    /// Stops the work threads once the work given to them is done.
    public func shutdown() async throws {
        try await threads.shutdownGracefully()
    }
}
