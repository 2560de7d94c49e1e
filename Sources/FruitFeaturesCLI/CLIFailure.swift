import ArgumentParser
import Foundation
import FruitFeatures
#if canImport(Glibc)
import Glibc
#endif

/// The exit statuses of `fruitfeatures`, documented in the README.
enum ExitStatus: Int32 {
    /// Everything went well (bad images, if any, are listed in errors.csv).
    case success = 0
    /// A fatal error: unreadable weights, no images, output not writable, existing output folder.
    case fatal = 1
    /// The command line is wrong (ArgumentParser's own status for usage errors).
    case usage = 64
    /// `--strict` was given and some images could not be used.
    case badImages = 3
    /// Interrupted (SIGINT); finished work was kept.
    case interrupted = 130
    /// Stopped by SIGTERM; finished work was kept.
    case terminated = 143
}

/// A failure reported as one line on stderr, with an exit status.
struct CLIFailure: Error, CustomStringConvertible {
    var message: String
    var code: ExitStatus

    init(_ message: String, code: ExitStatus) {
        self.message = message
        self.code = code
    }

    var description: String { message }
}

extension CLIFailure {
    /// Prints the message and exits with the failure's status.
    func exit() -> Never {
        writeMessage("fruitfeatures: error: \(message)")
        Glibc.exit(code.rawValue)
    }
}

/// Writes one line of a message to stderr, control characters in it made visible (``DisplayText``): a
/// file name holding a newline or an escape sequence cannot split the line or drive the terminal.
func writeMessage(_ line: String) {
    writeToStandardError(DisplayText.escaped(line) + "\n")
}

/// Writes text to stderr as it is, unbuffered. Failures are ignored: with no one reading (a closed pipe), messages
/// and progress simply stop while the work goes on (SIGPIPE is ignored, see ``FruitFeaturesCommand``).
func writeToStandardError(_ text: String) {
    _ = writeAll(text, to: 2)
}

/// Writes a command's product to stdout, unbuffered. When the reader has gone away (a closed pipe, as
/// `fruitfeatures predict … | head -1` does), nobody wants the rest: the command stops quietly, with
/// status 0.
func writeToStandardOutput(_ text: String) {
    if !writeAll(text, to: 1) && errno == EPIPE { Glibc.exit(ExitStatus.success.rawValue) }
}

/// Writes all of `text` to `descriptor`; false when a write fails (`errno` says why).
private func writeAll(_ text: String, to descriptor: Int32) -> Bool {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        if written < 0 {
            if errno == EINTR { continue }
            return false
        }
        bytes = bytes.dropFirst(written)
    }
    return true
}
