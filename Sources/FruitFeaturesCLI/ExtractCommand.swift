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

            --update brings the finished run in OUT_DIR up to date with INPUT_DIR: unchanged files (same path, \
            size and modification time; --checksum compares their bytes instead) keep their features without \
            being read, moved or copied files keep the features of their bytes, only new bytes go through the \
            network; the PCA is refit (--keep-pca keeps the earlier one). Settings come from OUT_DIR's \
            summary.json; an option that differs is an error, except --jobs, --batch-size and --no-progress. \
            The new run is built beside the old one and replaces it when complete. A missing or empty OUT_DIR \
            gets a plain extraction.

            Exit status: 0 success (bad images are listed in errors.csv); 1 fatal error; 3 with --strict \
            when some images could not be used; 64 usage error; 130 interrupted by SIGINT (143 by SIGTERM).
            """
    )

    @Argument(help: "The folder of photos, one sub-folder per label.")
    var input: String

    @Option(name: .shortAndLong, help: "The output folder.")
    var output: String

    @Option(help: "The Keras weights: .h5, .weights.h5 or .keras, MobileNetV2 or MobileNetV3 (default: $FRUITFEATURES_WEIGHTS, then the Keras cache).")
    var weights: String?

    @Option(help: "Resize images to N × N for the network (default 224, as the notebook; any backbone, whatever size its file was built for).")
    var inputSize: Int = 224

    @Option(help: "PCA components to keep (default 200, fewer if there are not enough images).")
    var components: Int?

    @Option(help: "Keep the fewest components explaining this share of the variance, e.g. 0.95.")
    var variance: Double?

    @Option(help: "Feature files to write: parquet, csv or both, comma-separated (default: parquet,csv).")
    var format: String?

    @Option(help: "File-name pattern of the images (default: *.jpg).")
    var glob: String?

    @Option(help: "Batches processed at once (default: the number of cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Images per batch, at most (the last batches of a run are smaller).")
    var batchSize: Int = 16

    @Option(help: "Parquet compression: snappy, zstd or uncompressed (default: snappy).")
    var compression: String?

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

    @Flag(help: "Bring the finished run in the output folder up to date, computing only what changed.")
    var update = false

    @Flag(help: "With --update: hash every file instead of trusting an unchanged size and modification time.")
    var checksum = false

    @Flag(help: "With --update: project with the earlier run's PCA instead of refitting it.")
    var keepPCA = false

    func validate() throws {
        if components != nil && variance != nil { throw ValidationError("give --components or --variance, not both") }
        if let components, components < 1 { throw ValidationError("--components must be at least 1") }
        if let variance, !(variance > 0 && variance <= 1) { throw ValidationError("--variance must be in (0, 1]") }
        if jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if resume && overwrite { throw ValidationError("give --resume or --overwrite, not both") }
        if update && overwrite { throw ValidationError("give --update or --overwrite, not both") }
        if (checksum || keepPCA) && !update { throw ValidationError("--checksum and --keep-pca go with --update") }
        _ = try formats(format ?? "parquet,csv")
        guard ParquetCompression(rawValue: compression ?? "snappy") != nil else {
            throw ValidationError("--compression must be snappy, zstd or uncompressed")
        }
    }

    private func formats(_ format: String) throws -> Set<FeatureFileFormat> {
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
        // Past a file-size limit (ulimit -f), writes then fail with EFBIG and are reported with the
        // file's name, instead of the signal killing the process with partial files behind.
        signal(SIGXFSZ, SIG_IGN)
        // Large buffers (a phone photo's 2–5 MB of file contents, whole images for Pillow's vertical-first
        // resizes) stay in the heap between images instead of being mapped and faulted in again for each.
        LargeBufferReuse.enable()
        if let request = KernelLevel.invalidRequest {
            writeToStandardError(
                "fruitfeatures: warning: \(KernelLevel.variable)=\(request) names no kernel level (portable, avx2, "
                    + "avx512); running at \(KernelLevel.active.name)\n")
        }
        // An update takes its settings from the run it updates.
        let earlier = update ? try earlierSettings() : nil
        var settings = ExtractionSettings()
        let components = self.components ?? earlier?.components
        let variance = self.variance ?? earlier?.variance
        if let components { settings.components = .count(components) }
        if let variance { settings.components = .varianceShare(variance) }
        settings.reducesComponentsToFit = components == nil && variance == nil
        settings.centring = (earlier.map { !$0.centred } ?? uncentered) ? .uncentred : .centred
        settings.formats = try formats(format ?? earlier?.formats ?? "parquet,csv")
        settings.jobs = jobs
        settings.batchSize = batchSize
        settings.overwrite = overwrite
        settings.resume = resume && !update
        settings.checksum = checksum
        settings.keepsPCA = keepPCA
        settings.parquet.compression = ParquetCompression(rawValue: compression ?? earlier?.compression ?? "snappy") ?? .snappy
        let glob = self.glob ?? earlier?.glob ?? "*.jpg"

        let pattern: GlobPattern
        let source: DirectoryImageSource
        let weightsPath: String
        let model: any FeatureModel
        do {
            pattern = try GlobPattern(glob)
            source = try DirectoryImageSource(root: input, pattern: pattern)
            weightsPath = try WeightsLocation.resolve(explicit: weights ?? earlier?.weights)
            model = try FeatureModelLoader.load(weightsAt: weightsPath, inputSize: inputSize)
        } catch {
            throw CLIFailure("\(error)", code: .fatal)
        }

        let pipeline = ExtractionPipeline(source: source, model: model, weightsPath: weightsPath, settings: settings)
        let reporter = ProgressReporter(total: nil, unit: "images", enabled: !noProgress)
        let run = Task { () async throws(ExtractionError) -> ExtractionSummary in
            let report: @Sendable (ExtractionProgress) -> Void = { progress in
                reporter.update(done: progress.done, total: progress.total)
            }
            if update {
                return try await pipeline.update(output, input: input, pattern: glob, progress: report)
            }
            return try await pipeline.run(into: output, input: input, pattern: glob, progress: report)
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
            if case .invalidSettings = error {
                // Found before anything was touched: a usage error, like the option checks above.
                throw CLIFailure(error.description, code: .usage)
            }
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
        for warning in summary.warnings { writeMessage("fruitfeatures: warning: \(warning)") }
        if !noProgress {
            writeMessage(String(
                format: "%d images, %d failed, %.1f images/s; %d PCA components explain %.1f%% of the variance; outputs in %@",
                summary.images.processed, summary.images.failed, summary.imagesPerSecond, summary.pca.components,
                summary.pca.explainedVarianceRatioTotal * 100, output))
            if let counts = summary.update {
                writeToStandardError(
                    "update: \(counts.reused) reused, \(counts.new) new, \(counts.changed) changed, \(counts.moved) moved, "
                        + "\(counts.removed) removed, \(counts.failed) failed; \(counts.networkPasses) network passes; PCA \(counts.pca)\n")
            }
        }
        if strict && summary.images.failed > 0 {
            throw CLIFailure(
                "\(summary.images.failed) files could not be used (see \(output)/\(ExtractionOutput.errors))",
                code: .badImages)
        }
    }

    /// The settings an update inherits from the run in the output folder.
    struct EarlierSettings {
        var glob: String
        var components: Int?
        var variance: Double?
        var centred: Bool
        var formats: String
        var compression: String
        var weights: String?
    }

    /// Reads the output folder's summary.json for `--update`, checking that the options given agree with it.
    ///
    /// Returns nil when the folder is missing or empty (the update is then a plain extraction).
    private func earlierSettings() throws -> EarlierSettings? {
        let manager = FileManager.default
        guard let contents = try? manager.contentsOfDirectory(atPath: output), !contents.isEmpty else { return nil }
        let summary: ExtractionSummary
        do {
            guard let recorded = try ExtractionRun(directory: URL(fileURLWithPath: output)).readSummary() else {
                throw CLIFailure(
                    "cannot update the run in \(output): it holds no finished run (no summary.json); use --overwrite to start over",
                    code: .fatal)
            }
            summary = recorded
        } catch let failure as CLIFailure {
            throw failure
        } catch {
            throw CLIFailure("cannot update the run in \(output): \(error)", code: .fatal)
        }
        let recorded = summary.settings
        var conflicts: [String] = []
        func check(_ option: String, given: String?, recorded: String) {
            if let given, given != recorded { conflicts.append("\(option) \(given) (the run has \(recorded))") }
        }
        if let absolute = summary.inputAbsolute {
            let given = realpath(input, nil).map { resolved in
                defer { free(resolved) }
                return String(cString: resolved)
            } ?? input
            if given != absolute { conflicts.append("INPUT_DIR \(given) (the run was made from \(absolute))") }
        }
        check("--glob", given: glob, recorded: recorded.glob)
        check("--components", given: components.map(String.init), recorded: recorded.components.map(String.init) ?? "the default")
        check("--variance", given: variance.map { "\($0)" }, recorded: recorded.variance.map { "\($0)" } ?? "none")
        if uncentered && summary.pca.centred { conflicts.append("--uncentered (the run is centred)") }
        if let format {
            let given = (try? formats(format)) ?? []
            if given != Set(recorded.formats.compactMap(FeatureFileFormat.init(rawValue:))) {
                conflicts.append("--format \(format) (the run has \(recorded.formats.joined(separator: ",")))")
            }
        }
        check("--compression", given: compression, recorded: recorded.compression)
        if !conflicts.isEmpty {
            throw CLIFailure(
                "--update keeps the run's settings; these differ: \(conflicts.joined(separator: "; "))", code: .fatal)
        }
        return EarlierSettings(
            glob: recorded.glob, components: recorded.components, variance: recorded.variance,
            centred: summary.pca.centred, formats: recorded.formats.joined(separator: ","),
            compression: recorded.compression,
            weights: manager.fileExists(atPath: summary.weights.path) ? summary.weights.path : nil)
    }
}
