import ArgumentParser
import Foundation
import FruitFeatures

/// `fruitfeatures weights …`: find and fetch MobileNetV2 weights.
struct WeightsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weights",
        abstract: "Find or download the MobileNetV2 ImageNet weights.",
        subcommands: [Download.self, Locate.self]
    )

    struct Download: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download the official Keras weights file into the Keras cache.")

        @Option(help: "Where to save the file (default: the Keras cache, ~/.keras/models/).")
        var output: String?

        @Option(help: ArgumentHelp("The address to fetch from.", visibility: .hidden))
        var url: String = WeightsLocation.kerasURL.absoluteString

        @Flag(help: "Do not show progress.")
        var noProgress = false

        func run() async throws {
            guard let source = URL(string: url) else { throw ValidationError("invalid URL: \(url)") }
            let destination = output ?? WeightsLocation.kerasCachePath()
            let progress = ProgressReporter(total: nil, unit: "bytes", enabled: !noProgress)
            do {
                try await WeightsDownload.fetch(from: source, to: destination) { received, expected in
                    progress.update(done: Int(received), total: expected.map(Int.init))
                }
            } catch {
                progress.finish()
                throw CLIFailure(error.description, code: .fatal)
            }
            progress.finish()
            print(destination)
        }
    }

    struct Locate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the weights file that extract would use, or why there is none.")

        @Option(help: "A weights file to check instead of the usual places.")
        var weights: String?

        func run() throws {
            do {
                print(try WeightsLocation.resolve(explicit: weights))
            } catch {
                throw CLIFailure(error.description, code: .fatal)
            }
        }
    }
}
