import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Turns SIGINT/SIGTERM into a call on a queue instead of the default immediate death, so that a long
/// command can stop cleanly.
///
/// The handler is told which signal arrived and how many have arrived so far (the first usually asks
/// for a clean stop, the second for an immediate one). ``stop()`` restores the default dispositions.
final class InterruptionHandler {
    /// Signals received so far; shared with the event handlers.
    private final class Received: Sendable {
        let state = Mutex<(count: Int, first: Int32?)>((0, nil))
    }

    private let sources: [any DispatchSourceSignal]
    private let signals: [Int32]
    private let received = Received()

    init(signals: [Int32], handler: @escaping @Sendable (_ signal: Int32, _ count: Int) -> Void) {
        self.signals = signals
        var sources: [any DispatchSourceSignal] = []
        for number in signals {
            // Ignored at the process level, delivered to the dispatch source instead.
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            sources.append(source)
        }
        self.sources = sources
        for (source, number) in zip(sources, signals) {
            source.setEventHandler { [received] in
                let count = received.state.withLock { state in
                    state.count += 1
                    if state.first == nil { state.first = number }
                    return state.count
                }
                handler(number, count)
            }
            source.resume()
        }
    }

    /// The first signal received, if any.
    var firstSignal: Int32? { received.state.withLock { $0.first } }

    /// Stops listening and restores the default dispositions — unless a signal has already arrived: the
    /// command is then on its way out, and a further signal must still get the handler (a clean exit
    /// status), not the default immediate death.
    func stop() {
        guard firstSignal == nil else { return }
        for source in sources { source.cancel() }
        for number in signals { signal(number, SIG_DFL) }
    }
}
