import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs the built `fruitfeatures` executable, as a user would, and captures what it prints.
struct CommandRunner {
    struct Result {
        var status: Int32
        var standardOutput: String
        var standardError: String
    }

    /// The executable beside the test bundle (both live in the same build folder).
    static let executable: String = {
        let testBinary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        var folder = URL(fileURLWithPath: testBinary).deletingLastPathComponent()
        while folder.path != "/" && !FileManager.default.fileExists(atPath: folder.appendingPathComponent("fruitfeatures").path) {
            folder.deleteLastPathComponent()
        }
        return folder.appendingPathComponent("fruitfeatures").path
    }()

    static func run(_ arguments: [String], environment: [String: String] = [:], directory: String? = nil) throws -> Result {
        try run(executable: executable, arguments, environment: environment, directory: directory)
    }

    static func run(executable: String, _ arguments: [String], environment: [String: String] = [:], directory: String? = nil) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Drain both pipes concurrently so that a chatty child never blocks on a full pipe.
        nonisolated(unsafe) var errorData = Data()
        let drained = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            errorData = error.fileHandleForReading.readDataToEndOfFile()
            drained.signal()
        }
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        drained.wait()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            standardOutput: String(decoding: outputData, as: UTF8.self),
            standardError: String(decoding: errorData, as: UTF8.self))
    }
}

/// A throw-away folder, in this test process's scratch root (``TestScratch``).
func makeScratchFolder(_ prefix: String = "ff") throws -> String {
    let path = TestScratch.root + "/\(prefix)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Where a test process's scratch folders go: one folder per process, named by its pid. Swift Testing has no hook
/// after the last test, so each test process removes the roots of earlier ones that have ended (a run used to
/// leave a hundred folders in the temporary directory). The server tests, run in the same process, put their
/// folders under the same root (`ServerFixture.scratchPath`).
enum TestScratch {
    static let root: String = {
        let base = NSTemporaryDirectory()
        let prefix = "fruitfeatures-tests-"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [] where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count)), pid != getpid() else { continue }
            // Only a process that is gone (ESRCH); one that is alive, or not ours to signal, keeps its folder.
            if kill(pid, 0) != 0 && errno == ESRCH { try? FileManager.default.removeItem(atPath: base + name) }
        }
        let root = base + prefix + "\(getpid())"
        try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        return root
    }()
}

/// Serves a folder over HTTP on loopback for the length of a test (Python's http.server).
final class LoopbackHTTPServer {
    let process = Process()
    let port: Int

    init(serving folder: String) throws {
        port = Int.random(in: 20000..<60000)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-m", "http.server", "--bind", "127.0.0.1", "\(port)", "--directory", folder]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait until it accepts connections.
        for _ in 0..<200 {
            if LoopbackHTTPServer.accepts(port: port) { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    private static func accepts(port: Int) -> Bool {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { return false }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    func url(_ name: String) -> String { "http://127.0.0.1:\(port)/\(name)" }

    deinit {
        // Foundation's terminate()/waitUntilExit() can block here; signal and poll instead.
        kill(process.processIdentifier, SIGKILL)
        for _ in 0..<100 where process.isRunning {
            Thread.sleep(forTimeInterval: 0.02)
        }
    }
}
