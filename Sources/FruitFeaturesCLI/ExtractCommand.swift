import ArgumentParser
import Foundation
import FruitFeatures

/// `fruitfeatures extract`: the whole pipeline over a folder of labelled photos.
struct ExtractCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extract",
        abstract: "Extract MobileNetV2 features from a folder of labelled photos and reduce them with PCA.",
        discussion: """
            Writes into OUT_DIR: features.parquet and features.csv (path, label, K PCA features), \
            raw_features.parquet (the 1280 MobileNetV2 features), pca.h5 (the fitted PCA), errors.csv \
            (files that could not be used, and why) and summary.json (counts, timings, variance, settings).

            Finished work is checkpointed in OUT_DIR/.fruitfeatures-checkpoint as it goes. A run that was \
            killed or interrupted continues with --resume (same input, glob and weights), skipping the \
            images it finished; its outputs are the same as those of an uninterrupted run. Ctrl-C (SIGINT) \
            or SIGTERM stops cleanly after the batches in progress; a second one stops at once.

            Exit status: 0 success (bad images are listed in errors.csv); 1 fatal error; 3 with --strict \
            when some images could not be used; 64 usage error; 130 interrupted by SIGINT (143 by SIGTERM).
            """
    )

    @Argument(help: "The folder of photos, one sub-folder per label.")
    var input: String

    @Option(name: .shortAndLong, help: "The output folder.")
    var output: String

    @Option(help: "The Keras .h5 weights (default: $FRUITFEATURES_WEIGHTS, then the Keras cache).")
    var weights: String?

    @Option(help: "PCA components to keep (default 200, fewer if there are not enough images).")
    var components: Int?

    @Option(help: "Keep the fewest components explaining this share of the variance, e.g. 0.95.")
    var variance: Double?

    @Option(help: "Feature files to write: parquet, csv or both, comma-separated.")
    var format: String = "parquet,csv"

    @Option(help: "File-name pattern of the images.")
    var glob: String = "*.jpg"

    @Option(help: "Batches processed at once (default: the number of cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Images per batch.")
    var batchSize: Int = 16

    @Option(help: "Parquet compression: snappy, zstd or uncompressed.")
    var compression: String = "snappy"

    @Flag(help: "Project without subtracting the mean, as pyspark.ml's PCAModel.transform.")
    var uncentered = false

    @Flag(help: "Do not show progress.")
    var noProgress = false

    @Flag(help: "Exit with status 3 if any image could not be used.")
    var strict = false

    @Flag(help: "Replace the run in the output folder: the new run is built beside it and swapped in when complete.")
    var overwrite = false

    @Flag(help: "Continue the interrupted run in the output folder, skipping the images it finished.")
    var resume = false

    func validate() throws {
        if components != nil && variance != nil { throw ValidationError("give --components or --variance, not both") }
        if let components, components < 1 { throw ValidationError("--components must be at least 1") }
        if let variance, !(variance > 0 && variance <= 1) { throw ValidationError("--variance must be in (0, 1]") }
        if jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if resume && overwrite { throw ValidationError("give --resume or --overwrite, not both") }
        _ = try formats()
        guard ParquetCompression(rawValue: compression) != nil else {
            throw ValidationError("--compression must be snappy, zstd or uncompressed")
        }
    }

    private func formats() throws -> Set<FeatureFileFormat> {
        var result = Set<FeatureFileFormat>()
        for name in format.split(separator: ",") {
            guard let value = FeatureFileFormat(rawValue: name.trimmingCharacters(in: .whitespaces).lowercased()) else {
                throw ValidationError("unknown format '\(name)': use parquet, csv or both")
            }
            result.insert(value)
        }
        guard !result.isEmpty else { throw ValidationError("--format needs parquet, csv or both") }
        return result
    }

    func run() async throws {
        // Only the PCA uses OpenBLAS; one thread keeps its results the same bits as a Spark job's (BLASThreading).
        BLASThreading.setThreadCount(1)
        // Past a file-size limit (ulimit -f), writes then fail with EFBIG and are reported with the
        // file's name, instead of the signal killing the process with partial files behind.
        signal(SIGXFSZ, SIG_IGN)
        var settings = ExtractionSettings()
        if let components { settings.components = .count(components) }
        if let variance { settings.components = .varianceShare(variance) }
        settings.reducesComponentsToFit = components == nil && variance == nil
        settings.centring = uncentered ? .uncentred : .centred
        settings.formats = try formats()
        settings.jobs = jobs
        settings.batchSize = batchSize
        settings.overwrite = overwrite
        settings.resume = resume
        settings.parquet.compression = ParquetCompression(rawValue: compression) ?? .snappy

        let pattern: GlobPattern
        let source: DirectoryImageSource
        let weightsPath: String
        let model: any FeatureModel
        do {
            pattern = try GlobPattern(glob)
            source = try DirectoryImageSource(root: input, pattern: pattern)
            weightsPath = try WeightsLocation.resolve(explicit: weights)
            model = try FeatureModelLoader.load(weightsAt: weightsPath)
        } catch {
            throw CLIFailure("\(error)", code: .fatal)
        }

        let pipeline = ExtractionPipeline(source: source, model: model, weightsPath: weightsPath, settings: settings)
        let reporter = ProgressReporter(total: nil, unit: "images", enabled: !noProgress)
        let run = Task { () async throws(ExtractionError) -> ExtractionSummary in
            try await pipeline.run(into: output, input: input, pattern: glob) { progress in
                reporter.update(done: progress.done, total: progress.total)
            }
        }
        let interruption = InterruptionHandler(signals: [SIGINT, SIGTERM]) { signal, count in
            if count == 1 {
                writeToStandardError(
                    "\nfruitfeatures: stopping after the batches in progress (interrupt again to stop at once)\n")
                run.cancel()
            } else {
                // The checkpoint journal is valid at any instant: stopping now loses only unfinished batches.
                writeToStandardError("fruitfeatures: stopped\n")
                _exit(128 + signal)
            }
        }
        let summary: ExtractionSummary
        do {
            summary = try await run.value
            interruption.stop()
        } catch let error as ExtractionError {
            interruption.stop()
            reporter.finish()
            if case .interrupted = error {
                throw CLIFailure(
                    error.description, code: interruption.firstSignal == SIGTERM ? .terminated : .interrupted)
            }
            throw CLIFailure(error.description, code: .fatal)
        } catch {
            interruption.stop()
            reporter.finish()
            throw CLIFailure("\(error)", code: .fatal)
        }
        reporter.finish()
        for warning in summary.warnings { writeToStandardError("fruitfeatures: warning: \(warning)\n") }
        if !noProgress {
            writeToStandardError(String(
                format: "%d images, %d failed, %.1f images/s; %d PCA components explain %.1f%% of the variance; outputs in %@\n",
                summary.images.processed, summary.images.failed, summary.imagesPerSecond, summary.pca.components,
                summary.pca.explainedVarianceRatioTotal * 100, output))
        }
        if strict && summary.images.failed > 0 {
            throw CLIFailure(
                "\(summary.images.failed) files could not be used (see \(output)/\(ExtractionOutput.errors))",
                code: .badImages)
        }
    }
}
