import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `fruitfeatures serve --model OUT_DIR …`: runs the HTTP recognition service, `fruitfeatures-server`.
///
/// The service is its own executable product so that `fruitfeatures` (and the README's first command) builds without
/// Hummingbird and SwiftNIO (Docs/serve.md: the build times that decided it). `serve` hands its arguments to
/// `fruitfeatures-server` beside this executable, or says how to build it.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Answer photos over HTTP (runs fruitfeatures-server, built with: swift build -c release --product fruitfeatures-server).",
        discussion: """
            fruitfeatures serve --model OUT_DIR [--host 127.0.0.1] [--port 8080] [--weights FILE] \
            [--max-body-bytes N] [--max-pixels N] [--concurrency N] [--queue-depth N] [--request-timeout S] \
            [--shutdown-timeout S] [--neighbors K] [--top N] [--allow-origin ORIGIN] [--api-key-file FILE]

            The arguments go to fruitfeatures-server unchanged (fruitfeatures-server --help describes them); \
            Docs/serve.md describes the API.
            """)

    @Argument(parsing: .captureForPassthrough, help: "The options of fruitfeatures-server.")
    var arguments: [String] = []

    func run() throws {
        let server = Self.serverExecutable()
        guard FileManager.default.isExecutableFile(atPath: server) else {
            throw CLIFailure("""
                the service is a separate executable, not built yet: \(server) is missing; build it with \
                `swift build -c release --product fruitfeatures-server`, then run `fruitfeatures serve …` again \
                (or `swift run -c release fruitfeatures-server --model OUT_DIR`)
                """, code: .fatal)
        }
        let argv = [server] + arguments
        var cArguments = argv.map { strdup($0) } + [nil]
        execv(server, &cArguments)
        // execv returns only on failure.
        let reason = String(cString: strerror(errno))
        throw CLIFailure("cannot run \(server): \(reason)", code: .fatal)
    }

    /// `fruitfeatures-server` in the folder of this executable (the build folder, or wherever both were installed).
    static func serverExecutable() -> String {
        let own = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: own).deletingLastPathComponent().appendingPathComponent("fruitfeatures-server").path
    }
}
