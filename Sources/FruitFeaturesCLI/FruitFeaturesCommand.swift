import ArgumentParser
import FruitFeatures
#if canImport(Glibc)
import Glibc
#endif

@main
struct FruitFeaturesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fruitfeatures",
        abstract: "Turn folders of fruit photos into MobileNetV2 features reduced by PCA.",
        version: fruitFeaturesVersion,
        subcommands: [ExtractCommand.self, TransformCommand.self, InspectCommand.self, WeightsCommand.self,
                      ReportCommand.self, EvaluateCommand.self, PredictCommand.self, ServeCommand.self]
    )

    static func main() async {
        // A closed pipe must not kill a run half-way (`extract … 2>&1 | head`): writes then fail with
        // EPIPE, progress stops, the work finishes; commands whose product is stdout stop quietly.
        signal(SIGPIPE, SIG_IGN)
        do {
            var command = try parseAsRoot()
            if var command = command as? AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch let failure as CLIFailure {
            failure.exit()
        } catch {
            exit(withError: error)
        }
    }
}
