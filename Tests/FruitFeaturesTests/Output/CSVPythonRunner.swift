import Foundation

/// Runs a Python snippet with the interpreter named by `FRUITFEATURES_PYTHON` (Scripts/test.sh points it at
/// the repository's .venv, which has pandas, pyarrow, h5py and DuckDB), for checking outputs with real readers.
enum PythonRunner {
    /// Whether an interpreter is configured; tests that need one are enabled only then.
    static var isAvailable: Bool { ProcessInfo.processInfo.environment["FRUITFEATURES_PYTHON"] != nil }

    struct Result {
        let status: Int32
        let output: String
    }

    /// Runs `python -c script arguments…`, returning the exit status and the combined stdout and stderr.
    static func run(_ script: String, arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ProcessInfo.processInfo.environment["FRUITFEATURES_PYTHON"] ?? "python3")
        process.arguments = ["-c", script] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }
}
