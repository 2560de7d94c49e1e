import Foundation
import FruitFeatures
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Shows progress on stderr: a redrawn bar on a terminal, a plain line every few seconds otherwise.
///
/// Safe to call from any task; drawing is throttled so that it costs nothing next to the work.
final class ProgressReporter: Sendable {
    private struct State {
        var done = 0
        var total: Int?
        var lastDraw: Double = 0
        var drewBar = false
        var lastDrawnDone = -1
    }

    private let unit: String
    private let enabled: Bool
    private let isTerminal: Bool
    private let start = Date().timeIntervalSinceReferenceDate
    private let state: Mutex<State>

    /// Creates a reporter; with `enabled` false it prints nothing.
    init(total: Int?, unit: String, enabled: Bool) {
        self.unit = unit
        self.enabled = enabled
        isTerminal = isatty(2) != 0
        state = Mutex(State(total: total))
    }

    /// Records progress and redraws when due.
    func update(done: Int, total: Int? = nil) {
        guard enabled else { return }
        let now = Date().timeIntervalSinceReferenceDate
        let line: String? = state.withLock { state in
            state.done = done
            if let total { state.total = total }
            let interval = isTerminal ? 0.1 : 5.0
            guard now - state.lastDraw >= interval else { return nil }
            state.lastDraw = now
            state.drewBar = isTerminal
            state.lastDrawnDone = done
            return render(state, now: now)
        }
        if let line { writeToStandardError(isTerminal ? "\r\u{1B}[K" + DisplayText.escaped(line) : DisplayText.escaped(line) + "\n") }
    }

    /// Ends the bar's line.
    func finish() {
        guard enabled else { return }
        let now = Date().timeIntervalSinceReferenceDate
        let (line, drewBar, stale) = state.withLock { state in
            (render(state, now: now), state.drewBar, state.lastDrawnDone != state.done)
        }
        // A plain log already holds the last figures unless work was done since.
        if drewBar || stale {
            writeToStandardError((drewBar ? "\r\u{1B}[K" : "") + DisplayText.escaped(line) + "\n")
        }
    }

    private func render(_ state: State, now: Double) -> String {
        let elapsed = max(now - start, 1e-9)
        let rate = Double(state.done) / elapsed
        let rateText = unit == "bytes"
            ? String(format: "%.1f MB/s", rate / 1e6)
            : String(format: "%.1f \(unit)/s", rate)
        guard let total = state.total, total > 0 else {
            return "\(state.done) \(unit)  \(rateText)"
        }
        let fraction = min(1, Double(state.done) / Double(total))
        let remaining = rate > 0 ? Double(total - state.done) / rate : 0
        let eta = String(format: "ETA %d:%02d", Int(remaining) / 60, Int(remaining) % 60)
        if isTerminal {
            let width = 30
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            return "[\(bar)] \(state.done)/\(total) \(rateText) \(eta)"
        }
        return String(format: "%d/%d %@ (%.0f%%) %@ %@", state.done, total, unit, fraction * 100, rateText, eta)
    }
}
