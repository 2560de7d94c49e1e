import ArgumentParser
import Foundation
import FruitFeatures

/// `fruitfeatures transform`: new photos → PCA features with a finished extraction's model.
struct TransformCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transform",
        abstract: "Project new photos with the model of a finished extraction.",
        discussion: """
            Writes path, label (the parent folder's name) and the K PCA features of each photo: Parquet or CSV \
            chosen by the extension of --output, CSV on standard output without it. Photos that cannot be used \
            are reported on stderr. Exit status: 0 all photos done; 3 some could not be used; 1 none, or a fatal error.
            """
    )

    @Argument(help: "Photos, or folders of photos.")
    var inputs: [String]

    @Option(help: "The output folder of a finished `extract`.")
    var model: String

    @Option(help: "Where to write the features (.parquet or .csv); standard output when absent.")
    var output: String?

    @Option(help: "The weights the extraction used, if summary.json's path is not valid here.")
    var weights: String?

    @Option(help: "File-name pattern of the images inside folders.")
    var glob: String = "*.jpg"

    func validate() throws {
        if let output, !(output.hasSuffix(".parquet") || output.hasSuffix(".csv")) {
            throw ValidationError("--output must end in .parquet or .csv")
        }
    }

    func run() async throws {
        // Only the PCA uses OpenBLAS; one thread keeps its results the same bits as a Spark job's (BLASThreading).
        BLASThreading.setThreadCount(1)
        let fitted: FittedPipeline
        var images: [ImageFile] = []
        var failures: [(String, String)] = []
        do {
            fitted = try FittedPipeline(outputDirectory: model, weights: weights)
            let pattern = try GlobPattern(glob)
            for input in inputs {
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: input, isDirectory: &isDirectory), isDirectory.boolValue {
                    for entry in try DirectoryImageSource(root: input, pattern: pattern) {
                        switch entry {
                        case .image(let image): images.append(image)
                        case .problem(let problem): failures.append((problem.path, problem.description))
                        }
                    }
                } else {
                    let parent = URL(fileURLWithPath: input).deletingLastPathComponent().lastPathComponent
                    images.append(ImageFile(path: input, label: parent))
                }
            }
        } catch {
            throw CLIFailure("\(error)", code: .fatal)
        }

        let k = fitted.pca.componentCount
        var rows: [FeatureRow] = []
        // In input order, batches through the network's grouped stage on every core.
        let results = await fitted.features(ofFilesAt: images.map(\.path))
        for (image, result) in zip(images, results) {
            switch result {
            case .success(let features): rows.append(FeatureRow(path: image.path, label: image.label, features: features))
            case .failure(let error): failures.append((image.path, error.description))
            }
        }
        for (_, message) in failures { writeToStandardError("fruitfeatures: warning: \(message)\n") }

        do {
            if let output {
                let writer: any ResultWriter = output.hasSuffix(".parquet")
                    ? try ParquetResultWriter(destination: output, featureCount: k)
                    : try CSVResultWriter(destination: output, featureCount: k)
                try writer.write(rows)
                try writer.finish()
            } else {
                var text = "path,label," + (0..<k).map { "feature_\($0)" }.joined(separator: ",") + "\n"
                for row in rows {
                    text += CSVResultWriter.quoted(row.path) + "," + CSVResultWriter.quoted(row.label)
                    for value in row.features { text += "," + CSVResultWriter.formatted(value) }
                    text += "\n"
                }
                FileHandle.standardOutput.write(Data(text.utf8))
            }
        } catch {
            throw CLIFailure("\(error)", code: .fatal)
        }
        if rows.isEmpty { throw CLIFailure("no photo could be used", code: .fatal) }
        if !failures.isEmpty { throw CLIFailure("\(failures.count) photos could not be used", code: .badImages) }
    }
}
