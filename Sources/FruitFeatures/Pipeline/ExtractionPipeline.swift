import Foundation

/// Progress of an extraction, reported as batches complete.
public struct ExtractionProgress: Sendable {
    /// Images found by the first listing pass (the total to process).
    public var total: Int
    /// Images done (processed or failed).
    public var done: Int
    /// Images that could not be used so far.
    public var failed: Int
}

/// The whole `extract` job: images → MobileNetV2 features → PCA → Parquet/CSV, on every core.
///
/// Batches of images are decoded, resized and run through the network in a task group that keeps at
/// most `jobs + 1` batches in flight, so decoding runs ahead of inference without unbounded memory.
/// Results are put back in path order before anything is written, and the PCA is fed fixed blocks of
/// rows, so outputs are identical for any `jobs` and `batchSize`. Raw features stream to
/// `raw_features.parquet` and to a spill file that the projection pass reads back: memory does not grow
/// with the number of images.
public struct ExtractionPipeline<Source: ImageSource>: Sendable {
    /// Where the images come from.
    public let source: Source
    /// Turns encoded images into network input.
    public let preprocessor: any Preprocessor
    /// The network.
    public let extractor: MobileNetV2Extractor
    /// The weights file the extractor was loaded from (recorded with its SHA-256).
    public let weightsPath: String
    /// How to run.
    public let settings: ExtractionSettings

    /// Rows per PCA accumulation and projection block: fixed, so results do not depend on batching.
    static var blockRows: Int { 256 }

    /// Creates a pipeline.
    public init(
        source: Source, preprocessor: any Preprocessor, extractor: MobileNetV2Extractor, weightsPath: String,
        settings: ExtractionSettings
    ) {
        self.source = source
        self.preprocessor = preprocessor
        self.extractor = extractor
        self.weightsPath = weightsPath
        self.settings = settings
    }

    /// Runs the extraction into `outputDirectory` and returns what `summary.json` holds.
    public func run(
        into outputDirectory: String, input: String, pattern: String,
        progress: @escaping @Sendable (ExtractionProgress) -> Void = { _ in }
    ) async throws(ExtractionError) -> ExtractionSummary {
        guard settings.jobs >= 1, settings.batchSize >= 1 else {
            throw .invalidSettings("jobs and batch size must be at least 1")
        }
        guard preprocessor.outputShape.count == extractor.inputCount else {
            throw .invalidSettings(
                "the preprocessor makes \(preprocessor.outputShape) tensors; the network takes \(extractor.inputSize)×\(extractor.inputSize)×3")
        }
        let clock = ContinuousClock()
        let started = clock.now
        try prepare(outputDirectory)
        let output = { (name: String) in outputDirectory + "/" + name }

        // A cheap listing pass first, for the progress total.
        let total = source.reduce(0) { count, entry in
            if case .image = entry { count + 1 } else { count }
        }
        if total == 0 { throw .noImages(input: input, pattern: pattern) }

        let spillPath = output(".raw_features.spill-\(ProcessInfo.processInfo.processIdentifier)")
        defer { unlink(spillPath) }
        var pass = try NetworkPass(
            pipeline: self, spillPath: spillPath, rawPath: output(ExtractionOutput.rawFeaturesParquet),
            errorsPath: output(ExtractionOutput.errors), total: total, progress: progress)
        try await pass.run()
        try pass.finish()

        guard pass.processed > 0 else {
            throw .noUsableImages(found: pass.found, errorsFile: output(ExtractionOutput.errors))
        }

        // Fit.
        var warnings: [String] = []
        var components = settings.components
        if case .count(let k) = components, settings.reducesComponentsToFit,
           k > pass.processed - 1 || k > extractor.featureCount {
            let reduced = max(1, min(pass.processed - 1, extractor.featureCount))
            warnings.append("\(k) PCA components need more than \(pass.processed) images; kept \(reduced)")
            components = .count(reduced)
        }
        let fitStart = clock.now
        let model: PCAModel
        do throws(PCAError) {
            model = try LAPACKPCA(components: components, centring: settings.centring).fit(pass.accumulator)
            try model.write(to: URL(fileURLWithPath: output(ExtractionOutput.pcaModel)))
        } catch {
            throw .pca(error)
        }
        let fitSeconds = (clock.now - fitStart).seconds

        // Project.
        let projectionStart = clock.now
        try project(spillPath: spillPath, model: model, output: output)
        let projectionSeconds = (clock.now - projectionStart).seconds

        let sha256: String
        do {
            sha256 = try SHA256.hexDigest(ofFileAt: weightsPath)
        } catch {
            sha256 = ""
            warnings.append("cannot hash the weights file: \(error)")
        }
        let totalSeconds = (clock.now - started).seconds
        let summary = ExtractionSummary(
            version: fruitFeaturesVersion, input: input,
            weights: .init(path: weightsPath, sha256: sha256, alpha: extractor.architecture.alpha),
            images: .init(found: pass.found, processed: pass.processed, failed: pass.failed),
            imagesPerSecond: Double(pass.processed) / max(totalSeconds, 1e-9),
            seconds: .init(
                total: totalSeconds, read: pass.readSeconds, preprocess: pass.preprocessSeconds,
                network: pass.networkSeconds, pcaFit: fitSeconds, projection: projectionSeconds),
            pca: .init(
                components: model.componentCount, centred: model.centring == .centred,
                explainedVarianceRatioTotal: model.explainedVarianceRatio.reduce(0, +),
                explainedVariance: model.explainedVariance, explainedVarianceRatio: model.explainedVarianceRatio),
            settings: .init(
                glob: pattern, jobs: settings.jobs, batchSize: settings.batchSize,
                formats: FeatureFileFormat.allCases.filter(settings.formats.contains).map(\.rawValue),
                compression: settings.parquet.compression.rawValue),
            warnings: warnings)
        try writeSummary(summary, to: output(ExtractionOutput.summary))
        return summary
    }

    /// Creates the output folder, or checks that it may be written into.
    private func prepare(_ directory: String) throws(ExtractionError) {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw .outputNotWritable(directory, reason: "it is a file") }
            let contents = (try? manager.contentsOfDirectory(atPath: directory)) ?? []
            if !contents.isEmpty {
                guard settings.overwrite else { throw .outputNotEmpty(directory) }
                // The old summary goes first: without it the folder no longer claims a complete run.
                for name in [ExtractionOutput.summary] + ExtractionOutput.all {
                    unlink(directory + "/" + name)
                }
            }
        } else {
            do {
                try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw .outputNotWritable(directory, reason: error.localizedDescription)
            }
        }
        guard access(directory, W_OK) == 0 else { throw .outputNotWritable(directory, reason: errnoText()) }
    }

    /// The second pass: spilled raw features → PCA features → feature files.
    private func project(spillPath: String, model: PCAModel, output: (String) -> String) throws(ExtractionError) {
        var writers: [any ResultWriter] = []
        do {
            if settings.formats.contains(.parquet) {
                writers.append(try ParquetResultWriter(
                    destination: output(ExtractionOutput.featuresParquet), featureCount: model.componentCount,
                    options: settings.parquet))
            }
            if settings.formats.contains(.csv) {
                writers.append(try CSVResultWriter(
                    destination: output(ExtractionOutput.featuresCSV), featureCount: model.componentCount))
            }
            let reader = try FeatureSpillReader(path: spillPath, dimension: extractor.featureCount)
            while true {
                let block = try reader.next(limit: Self.blockRows)
                if block.paths.isEmpty { break }
                let projected = try model.project(block.features, rowCount: block.paths.count)
                let k = model.componentCount
                let rows = block.paths.indices.map { index in
                    FeatureRow(
                        path: block.paths[index], label: block.labels[index],
                        features: Array(projected[(index * k)..<((index + 1) * k)]))
                }
                for writer in writers { try writer.write(rows) }
            }
            for writer in writers { try writer.finish() }
        } catch let error as OutputError {
            writers.forEach { $0.discard() }
            throw .output(error)
        } catch let error as PCAError {
            writers.forEach { $0.discard() }
            throw .pca(error)
        } catch {
            writers.forEach { $0.discard() }
            throw .invalidSettings("\(error)")
        }
    }

    private func writeSummary(_ summary: ExtractionSummary, to path: String) throws(ExtractionError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        do {
            let data = try encoder.encode(summary)
            let file = try AtomicFile(destination: path)
            try file.write(data + [UInt8(ascii: "\n")])
            try file.commit()
        } catch let error as OutputError {
            throw .output(error)
        } catch {
            throw .output(OutputError(.write, path: path, reason: "\(error)"))
        }
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) * 1e-18
    }
}
