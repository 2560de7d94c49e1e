import ArgumentParser
import Foundation
import FruitFeatures

/// `fruitfeatures report OUT_DIR`: the HTML report of an extract run.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write OUT_DIR/report.html: explained variance, PCA scatter by label, counts, errors, run settings.",
        discussion: """
            Reads features.csv and pca.h5 (required), summary.json, errors.csv and evaluation.json (when present) \
            from OUT_DIR, and writes one self-contained HTML file (inline SVG, nothing fetched from the network). \
            Run `fruitfeatures evaluate OUT_DIR` first to include the nearest-neighbour evaluation.
            """)

    @Argument(help: ArgumentHelp("An output folder of fruitfeatures extract.", valueName: "out-dir"))
    var outputDirectory: String

    @Option(help: ArgumentHelp("Where to write the page (default: OUT_DIR/report.html).", valueName: "file"))
    var output: String?

    @Option(help: "The most points drawn in the scatter plot (evenly spread over the images).")
    var maxPoints: Int = 5000

    func validate() throws {
        guard maxPoints >= 1 else { throw ValidationError("--max-points must be at least 1") }
    }

    func run() throws {
        do {
            let run = try ExtractionRun(directory: URL(fileURLWithPath: outputDirectory))
            let page = try ReportPage(folder: run, maximumScatterPoints: maxPoints)
            var destination = output.map { URL(fileURLWithPath: $0) } ?? run.reportFile
            try page.write(to: destination)
            // Written into the run's generation: it goes with the run when the run is replaced.
            if output == nil { destination = try run.linkDerivedFile(ReportPage.fileName) }
            print(destination.path)
        } catch {
            throw CLIFailure(error.description, code: .fatal)
        }
    }
}
