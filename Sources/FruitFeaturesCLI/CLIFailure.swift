import ArgumentParser
import Foundation
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
        writeToStandardError("fruitfeatures: error: \(message)\n")
        Glibc.exit(code.rawValue)
    }
}

/// Writes text to stderr, unbuffered.
func writeToStandardError(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
}
