import ArgumentParser
import Foundation
import FruitFeatures
#if canImport(Glibc)
import Glibc
#endif

/// `fruitfeatures weights …`: find and fetch the ImageNet weights of a backbone (MobileNetV2 by default).
struct WeightsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weights",
        abstract: "Find or download the ImageNet weights of MobileNetV2 or MobileNetV3 (--model).",
        subcommands: [Download.self, Locate.self]
    )

    struct Download: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download the official Keras weights file into the Keras cache.")

        @Option(help: "Where to save the file (default: the Keras cache, ~/.keras/models/).")
        var output: String?

        @Option(help: "The network: \(KerasApplicationsModel.allCases.map(\.rawValue).joined(separator: ", ")).")
        var model: KerasApplicationsModel = .mobileNetV2

        @Option(help: ArgumentHelp("The address to fetch from (default: Keras's address for --model).", visibility: .hidden))
        var url: String?

        @Flag(help: "Do not show progress.")
        var noProgress = false

        func run() async throws {
            let address = url ?? model.url.absoluteString
            guard let source = URL(string: address) else { throw ValidationError("invalid URL: \(address)") }
            let destination = output ?? model.kerasCachePath()
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
            print(DisplayText.escaped(destination))
        }
    }

    struct Locate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the weights file that extract would use, or why there is none.")

        @Option(help: "A weights file to check instead of the usual places.")
        var weights: String?

        @Option(help: "The network whose Keras cache file to look for: \(KerasApplicationsModel.allCases.map(\.rawValue).joined(separator: ", ")).")
        var model: KerasApplicationsModel = .mobileNetV2

        func run() throws {
            let path: String
            if model != .mobileNetV2 && weights == nil {
                // Another backbone's file has its own name in the Keras cache.
                path = model.kerasCachePath()
                guard FileManager.default.isReadableFile(atPath: path) else {
                    throw CLIFailure("""
                        no \(model.rawValue) weights found at \(path): pass --weights FILE or run \
                        `fruitfeatures weights download --model \(model.rawValue)` to fetch \(model.url.absoluteString)
                        """, code: .fatal)
                }
            } else {
                do {
                    path = try WeightsLocation.resolve(explicit: weights)
                } catch {
                    throw CLIFailure(error.description, code: .fatal)
                }
            }
            // The file found must be one extract can use: a folder, an empty file or a file of other
            // data is a failure here, not at the next extract.
            var info = stat()
            guard stat(path, &info) == 0 else { throw CLIFailure("\(path): \(String(cString: strerror(errno)))", code: .fatal) }
            guard info.st_mode & S_IFMT == S_IFREG else {
                let kind = info.st_mode & S_IFMT == S_IFDIR ? "a folder" : "not a regular file"
                throw CLIFailure("\(path): \(kind), not a weights file", code: .fatal)
            }
            guard info.st_size > 0 else { throw CLIFailure("\(path): an empty file, not a weights file", code: .fatal) }
            do {
                let file = try KerasWeightsFile(contentsOf: URL(fileURLWithPath: path))
                switch try file.backboneArchitecture() {
                case .mobileNetV2: _ = try file.mobileNetV2Weights()
                case .mobileNetV3: _ = try file.mobileNetV3Weights()
                }
            } catch {
                throw CLIFailure(error.description, code: .fatal)
            }
            print(DisplayText.escaped(path))
        }
    }
}

extension KerasApplicationsModel: ExpressibleByArgument {}
