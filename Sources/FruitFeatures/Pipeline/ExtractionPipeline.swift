import Foundation
import SystemPackage

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
/// rows, so outputs are identical for any `jobs` and `batchSize`. Each distinct content (SHA-256 of the bytes
/// read for decoding) goes through the network once per run: files with the same bytes take the features (or
/// the failure) of the first one claimed, which are those they would get on their own. Raw features are appended, batch by
/// batch, to a checkpoint journal in the output folder; raw_features.parquet, errors.csv, the PCA fit and
/// the projection all read it back, so memory does not grow with the number of images and an
/// interrupted run can be resumed (see ``ExtractionSettings/resume``) with identical outputs.
public struct ExtractionPipeline<Source: ImageSource>: Sendable {
    /// Where the images come from.
    public let source: Source
    /// The preprocessing and the network.
    public let model: any FeatureModel
    /// The weights file the model was loaded from (recorded, absolute, with its SHA-256).
    public let weightsPath: String
    /// How to run.
    public let settings: ExtractionSettings

    /// Rows per PCA accumulation and projection block: fixed, so results do not depend on batching.
    static var blockRows: Int { 256 }

    /// Creates a pipeline.
    ///
    /// - Parameter weightsPath: the file `model` was loaded from; summary.json records it as an absolute path.
    public init(source: Source, model: any FeatureModel, weightsPath: String, settings: ExtractionSettings) {
        self.source = source
        self.model = model
        self.weightsPath = URL(fileURLWithPath: weightsPath).standardizedFileURL.path
        self.settings = settings
    }

    /// Runs the extraction into `outputDirectory` and returns what `summary.json` holds.
    ///
    /// The finished work is checkpointed in `outputDirectory` as it goes (see ``ExtractionSettings/resume``).
    /// Cancelling the task stops the run at the next batch boundary, keeping the checkpoint, and throws
    /// ``ExtractionError/interrupted(done:total:checkpoint:)``.
    ///
    /// The work runs on the library's own threads (``ComputeExecutor``), never on the cooperative pool.
    public func run(
        into outputDirectory: String, input: String, pattern: String,
        progress: @escaping @Sendable (ExtractionProgress) -> Void = { _ in }
    ) async throws(ExtractionError) -> ExtractionSummary {
        try await run(into: outputDirectory, input: input, pattern: pattern, update: nil, progress: progress)
    }

    /// What an update takes from the run it replaces.
    struct RunUpdate {
        /// The earlier raw features, by path and content.
        var reuse: ReusableFeatures
        /// The earlier PCA, when it is kept (`--keep-pca`).
        var keptPCA: PCAModel?
    }

    /// Runs a plain extraction (`update` nil) or an update, on the library's compute threads.
    func run(
        into outputDirectory: String, input: String, pattern: String, update: RunUpdate?,
        progress: @escaping @Sendable (ExtractionProgress) -> Void
    ) async throws(ExtractionError) -> ExtractionSummary {
        try await onComputeThreads { () async throws(ExtractionError) -> ExtractionSummary in
            try await execute(into: outputDirectory, input: input, pattern: pattern, update: update, progress: progress)
        }
    }

    private func execute(
        into outputDirectory: String, input: String, pattern: String, update: RunUpdate?,
        progress: @escaping @Sendable (ExtractionProgress) -> Void
    ) async throws(ExtractionError) -> ExtractionSummary {
        guard settings.jobs >= 1, settings.batchSize >= 1 else {
            throw .invalidSettings("jobs and batch size must be at least 1")
        }
        // Settings the output folder and the network pass depend on are checked before either is touched.
        let shape = model.inputShape
        try BatchMemory(settings: settings, inputCount: shape.count,
                        featureCount: model.featureCount).check()
        if case .count(let k) = settings.components, !settings.reducesComponentsToFit, k > model.featureCount {
            throw .pca(.componentsExceedDimension(requested: k, dimension: model.featureCount))
        }
        guard !(settings.resume && settings.overwrite) else {
            throw .invalidSettings("resume or overwrite, not both")
        }
        let clock = ContinuousClock()
        let started = clock.now
        let lock = try prepare(outputDirectory)
        defer { withExtendedLifetime(lock) {} }
        let generations = RunGenerations(directory: outputDirectory)
        var warnings: [String] = []

        let identity = model.identity
        let sha256 = identity.weightsSHA256

        // A cheap listing pass first, for the progress total.
        var total = 0
        var images = 0
        for entry in source {
            // A listing of a huge or slow tree takes long: a stop asked for meanwhile is honoured at once.
            if Task.isCancelled {
                throw .interrupted(done: 0, total: total, checkpoint: outputDirectory + "/" + ExtractionOutput.checkpoint)
            }
            total += 1
            if case .image = entry { images += 1 }
        }
        // The walk ends early when the task is cancelled (DirectoryImageSource).
        if Task.isCancelled {
            throw .interrupted(done: 0, total: total, checkpoint: outputDirectory + "/" + ExtractionOutput.checkpoint)
        }
        if images == 0 { throw .noImages(input: input, pattern: pattern) }

        let manifest = CheckpointManifest(
            version: fruitFeaturesVersion, input: input, glob: pattern, weightsSHA256: sha256,
            featureCount: model.featureCount, inputSize: identity.inputSize)
        let checkpoint = try ExtractionCheckpoint.open(in: outputDirectory, manifest: manifest, resume: settings.resume)
        var pass = NetworkPass(
            pipeline: self, outputDirectory: outputDirectory, checkpoint: checkpoint, total: total, reuse: update?.reuse,
            progress: progress)
        try await pass.run()
        let interruption = ExtractionError.interrupted(done: pass.done, total: total, checkpoint: checkpoint.directory)

        // From here on everything is derived from the journal, whether it was written by this run or not, into a
        // new generation beside the current run, which stays complete and readable until the new one replaces it.
        if Task.isCancelled { throw interruption }
        let generation: String
        do {
            generation = try generations.makeGeneration()
        } catch {
            throw .output(error)
        }
        let output = { (name: String) in generation + "/" + name }
        var published = false
        var keepGeneration = false
        defer {
            if !published && !keepGeneration { try? removeTree(atPath: generation) }
        }
        // The PCA fit (single-threaded LAPACK, the longest step after the network) runs beside the raw outputs,
        // each reading the journal on its own: a core would otherwise sit idle through one of them.
        let journalPath = checkpoint.journalPath
        let keptPCA = update?.keptPCA
        async let fitted = Result { () throws(ExtractionError) -> FittedPCA? in
            try fitPCA(journal: journalPath, generation: generation, keeping: keptPCA)
        }
        let raw = try writeRawOutputs(journal: checkpoint.journalPath, output: output, reuse: update?.reuse)
        guard raw.processed > 0 else {
            // Kept (unpublished) so that errors.csv can be read; the next run in this folder removes it.
            keepGeneration = true
            throw .noUsableImages(found: raw.found, errorsFile: output(ExtractionOutput.errors))
        }
        let duplicates = try writeDuplicates(raw.contents, to: output(ExtractionOutput.duplicates))
        if duplicates.labelConflicts > 0 {
            warnings.append(
                "\(duplicates.labelConflicts) groups of identical files carry different labels (label conflicts); see \(ExtractionOutput.duplicates)")
        }
        // A stop is reported as one, whatever the fit beside came to; the fit is nil only when stopped.
        if Task.isCancelled { throw interruption }
        guard let fit = try await fitted.get() else { throw interruption }
        if Task.isCancelled { throw interruption }
        let model = fit.model
        if let reduced = fit.warning { warnings.append(reduced) }
        let fitSeconds = fit.seconds

        // Project.
        if Task.isCancelled { throw interruption }
        let projectionStart = clock.now
        try project(journal: checkpoint.journalPath, model: model, output: output, interruption: interruption)
        let projectionSeconds = (clock.now - projectionStart).seconds

        let totalSeconds = (clock.now - started).seconds
        let resumed = checkpoint.completed.count
        let resumedImages = checkpoint.completed.reduce(0) { count, entry in
            if case .features = entry { count + 1 } else { count }
        }
        var summary = ExtractionSummary(
            version: fruitFeaturesVersion, input: input,
            weights: .init(path: weightsPath, sha256: sha256, alpha: identity.alpha),
            featureModel: identity,
            images: .init(
                found: raw.found, processed: raw.processed, failed: raw.failed, resumed: resumed > 0 ? resumed : nil,
                networkPasses: raw.networkPasses),
            imagesPerSecond: Double(raw.processed - resumedImages) / max(totalSeconds, 1e-9),
            seconds: .init(
                total: totalSeconds, read: raw.readSeconds, preprocess: raw.preprocessSeconds,
                network: raw.networkSeconds, pcaFit: fitSeconds, projection: projectionSeconds),
            pca: .init(
                components: model.componentCount, centred: model.centring == .centred,
                explainedVarianceRatioTotal: model.explainedVarianceRatio.reduce(0, +),
                explainedVariance: model.explainedVariance, explainedVarianceRatio: model.explainedVarianceRatio),
            settings: .init(
                glob: pattern, jobs: settings.jobs, batchSize: settings.batchSize,
                formats: FeatureFileFormat.allCases.filter(settings.formats.contains).map(\.rawValue),
                compression: settings.parquet.compression.rawValue),
            warnings: warnings)
        summary.kernelLevel = KernelLevel.active.name
        if case .count(let k) = settings.components, !settings.reducesComponentsToFit { summary.settings.components = k }
        if case .varianceShare(let share) = settings.components { summary.settings.variance = share }
        summary.inputAbsolute = Self.absolutePath(input)
        summary.duplicates = duplicates
        if var counts = raw.update {
            counts.failed = raw.failed
            counts.pca = update?.keptPCA == nil ? "refit" : "kept"
            summary.update = counts
        }
        if Task.isCancelled { throw interruption }
        try writeSummary(summary, to: output(ExtractionOutput.summary))
        checkpoint.markCompleted(by: OutputTarget.namePart(of: generation))
        do {
            try generations.publish(generation)
        } catch {
            throw .output(error)
        }
        published = true
        // The run is complete: the checkpoint has done its job.
        checkpoint.remove()
        return summary
    }

    /// Creates the output folder, or checks that it may be written into, and locks it for this run.
    ///
    /// Nothing of an earlier run is removed here: the new run is written into a new generation and replaces the
    /// old one only when complete (``RunGenerations``). A non-empty folder is used only when it holds a run of
    /// ours (the marker, or only names the tool writes), and only with `overwrite` or `resume`. Unfinished
    /// generations of crashed runs are removed.
    private func prepare(_ directory: String) throws(ExtractionError) -> OutputFolderLock {
        if fileExists(atPath: directory) {
            guard folderExists(atPath: directory) else { throw .outputNotWritable(directory, reason: "it is a file") }
        } else {
            if let dangling = OutputTarget.danglingLinkProblem(directory) {
                throw .outputNotWritable(directory, reason: dangling)
            }
            do {
                try makeFolders(atPath: directory)
            } catch {
                // A folder above it that could not be made is named.
                throw .outputNotWritable(directory, reason: error.path == directory ? error.reasonText : error.description)
            }
        }
        do {
            try SystemCalls.checkAccess(directory, for: .write)
        } catch {
            throw .outputNotWritable(directory, reason: error.description)
        }
        let lock = try OutputFolderLock(directory)
        var contents: [String]
        do {
            contents = try folderEntries(atPath: directory)
        } catch {
            throw .outputNotWritable(directory, reason: error.reasonText)
        }
        let generations = RunGenerations(directory: directory)
        let checkpointPath = directory + "/" + ExtractionOutput.checkpoint
        if contents.contains(ExtractionOutput.checkpoint),
           let completing = ExtractionCheckpoint.completingGeneration(ofCheckpointAt: checkpointPath),
           completing == OutputTarget.namePart(of: generations.currentGeneration) {
            // The run this checkpoint belongs to was published (it is the current one) and killed before the
            // checkpoint was removed: the run is complete. Finish the removal: a re-run must not call it
            // interrupted, and --resume must not recompute it.
            try? removeTree(atPath: checkpointPath)
            contents.removeAll { $0 == ExtractionOutput.checkpoint }
        }
        guard !contents.isEmpty else { return lock }
        if settings.overwrite && !generations.hasMarker {
            let foreign: [String]
            do {
                foreign = try generations.foreignEntries()
            } catch {
                throw .outputNotWritable(directory, reason: (error as? FileProblem)?.reasonText ?? "\(error)")
            }
            if !foreign.isEmpty {
                throw .outputNotARun(directory, foreign: foreign)
            }
        }
        let hasCheckpoint = contents.contains(ExtractionOutput.checkpoint)
        if settings.resume {
            guard hasCheckpoint else {
                let complete = fileExists(atPath: generations.currentGeneration + "/" + ExtractionOutput.summary)
                throw .cannotResume(directory, reason: complete
                    ? "it holds a complete run (summary.json); there is nothing to resume"
                    : "it holds no checkpoint of an interrupted run")
            }
        } else if !settings.overwrite {
            throw hasCheckpoint ? .outputHoldsUnfinishedRun(directory) : .outputNotEmpty(directory)
        }
        // Temporary files and unfinished generations of a run that was killed.
        let current = OutputTarget.namePart(of: generations.currentGeneration)
        generations.removeGenerations(except: generations.currentGeneration == directory ? nil : current)
        let temporaryPrefixes = RunGenerations.publishedNames.map { "." + $0 + ".partial-" }
        for name in contents where temporaryPrefixes.contains(where: name.hasPrefix) || RunGenerations.isTemporaryLink(name) {
            SystemCalls.removeFile(directory + "/" + name)
        }
        if settings.overwrite { try? removeTree(atPath: directory + "/" + ExtractionOutput.checkpoint) }
        return lock
    }

    /// What the journal adds up to.
    private struct RawTotals {
        var found = 0
        var processed = 0
        var failed = 0
        var readSeconds = 0.0
        var preprocessSeconds = 0.0
        var networkSeconds = 0.0
        /// Images whose features the network computed (journal rows so marked): one per distinct content.
        var networkPasses = 0
        /// (sha256, path, label) of every image with features, for duplicates.csv.
        var contents: [(sha256: String, path: String, label: String)] = []
        /// Against the run being updated, when there is one.
        var update: ExtractionSummary.UpdateCounts?
    }

    /// A fitted (or kept) PCA, written to pca.h5.
    private struct FittedPCA: Sendable {
        var model: PCAModel
        /// Set when the component count was reduced to what the rows support.
        var warning: String?
        /// Reading the statistics from the journal, the fit and the write of pca.h5.
        var seconds: Double
    }

    /// The journal → the PCA accumulator (fed fixed blocks of rows, so the fit does not depend on batching) →
    /// the fit (or the kept model) → pca.h5 in `generation`; nil when the journal holds no features.
    private func fitPCA(
        journal: String, generation: String, keeping kept: PCAModel?
    ) throws(ExtractionError) -> FittedPCA? {
        let clock = ContinuousClock()
        let started = clock.now
        let featureCount = model.featureCount
        let blockFloats = Self.blockRows * featureCount
        var accumulator: PCAAccumulator
        do {
            accumulator = try PCAAccumulator(dimension: featureCount)
        } catch {
            throw .pca(error)
        }
        var pending: [Float] = []
        func feed(keepingPartialBlock: Bool) throws(ExtractionError) {
            var start = 0
            while pending.count - start >= blockFloats || (!keepingPartialBlock && pending.count > start) {
                let end = min(start + blockFloats, pending.count)
                do {
                    try pending[start..<end].withUnsafeBufferPointer { block throws(PCAError) in
                        try accumulator.add(block, rowCount: (end - start) / featureCount)
                    }
                } catch {
                    throw .pca(error)
                }
                start = end
            }
            pending.removeFirst(start)
        }
        var processed = 0
        try ExtractionCheckpoint.forEachRecord(inJournal: journal, featureCount: featureCount) {
            record throws(ExtractionError) in
            if Task.isCancelled { return }
            processed += record.features.count / featureCount
            // A kept model needs no statistics.
            guard kept == nil else { return }
            pending.append(contentsOf: record.features)
            try feed(keepingPartialBlock: true)
        }
        if kept == nil { try feed(keepingPartialBlock: false) }
        guard processed > 0, !Task.isCancelled else { return nil }

        var components = settings.components
        var warning: String?
        if case .count(let k) = components, settings.reducesComponentsToFit,
           k > processed - 1 || k > featureCount {
            let reduced = max(1, min(processed - 1, featureCount))
            warning = "\(k) PCA components need more than \(processed) images; kept \(reduced)"
            components = .count(reduced)
        }
        var fitted: PCAModel
        do throws(PCAError) {
            if let kept {
                fitted = kept
            } else {
                fitted = try LAPACKPCA(components: components, centring: settings.centring).fit(accumulator)
            }
            // A stop during the fit: nothing more to write (the run reports the interruption).
            if Task.isCancelled { return nil }
            // pca.h5 says what its features are, as summary.json does; a run whose two disagree is refused.
            fitted.featureModel = model.identity
            try fitted.write(to: URL(fileURLWithPath: generation + "/" + ExtractionOutput.pcaModel))
        } catch {
            throw .pca(error)
        }
        return FittedPCA(model: fitted, warning: warning, seconds: (clock.now - started).seconds)
    }

    /// The journal → raw_features.parquet, errors.csv and the totals.
    private func writeRawOutputs(
        journal: String, output: (String) -> String, reuse: ReusableFeatures?
    ) throws(ExtractionError) -> RawTotals {
        let featureCount = model.featureCount
        var totals = RawTotals()
        let rawWriter: ParquetResultWriter
        let errorsFile: AtomicFile
        do throws(OutputError) {
            rawWriter = try ParquetResultWriter(
                destination: output(ExtractionOutput.rawFeaturesParquet), featureCount: featureCount,
                options: settings.parquet, identityColumns: .sha256SizeAndModificationTime)
            errorsFile = try AtomicFile(destination: output(ExtractionOutput.errors))
            try errorsFile.write("path,reason\n")
        } catch {
            throw .output(error)
        }
        var updateCounts = UpdateTally()
        do throws(ExtractionError) {
            try ExtractionCheckpoint.forEachRecord(inJournal: journal, featureCount: featureCount) {
                record throws(ExtractionError) in
                var rows: [FeatureRow] = []
                var errorLines = ""
                var row = 0
                for entry in record.entries {
                    switch entry {
                    case .features(let path, let label):
                        let identity = row < record.identities.count ? record.identities[row] : nil
                        rows.append(FeatureRow(
                            path: path, label: label,
                            features: Array(record.features[(row * featureCount)..<((row + 1) * featureCount)]),
                            identity: identity))
                        if let identity {
                            totals.contents.append((identity.sha256, path, label))
                            if let reuse { Self.count(path: path, sha256: identity.sha256, against: reuse, into: &updateCounts) }
                        }
                        row += 1
                    case .failure(let path, let reason):
                        errorLines += CSVResultWriter.quoted(path) + "," + CSVResultWriter.quoted(reason) + "\n"
                        if let reuse, reuse.earlier(path: path).found { updateCounts.earlierPathsSeen += 1 }
                    }
                }
                do throws(OutputError) {
                    try rawWriter.write(rows)
                    try errorsFile.write(errorLines)
                } catch {
                    throw .output(error)
                }
                totals.networkPasses += record.networkRows.count
                totals.found += record.entries.count
                totals.processed += rows.count
                totals.failed += record.entries.count - rows.count
                totals.readSeconds += record.readSeconds
                totals.preprocessSeconds += record.preprocessSeconds
                totals.networkSeconds += record.networkSeconds
            }
            if let reuse {
                totals.update = ExtractionSummary.UpdateCounts(
                    reused: updateCounts.reused, new: updateCounts.new, changed: updateCounts.changed,
                    moved: updateCounts.moved, removed: reuse.paths.count - updateCounts.earlierPathsSeen, failed: 0,
                    networkPasses: totals.networkPasses, pca: "refit")
            }
            do throws(OutputError) {
                try rawWriter.finish()
                try errorsFile.commit()
            } catch {
                throw .output(error)
            }
        } catch {
            rawWriter.discard()
            errorsFile.discard()
            throw error
        }
        return totals
    }

    /// The second pass: raw features from the journal → PCA features → feature files.
    private func project(
        journal: String, model: PCAModel, output: (String) -> String, interruption: ExtractionError
    ) throws(ExtractionError) {
        var writers: [any ResultWriter] = []
        let featureCount = self.model.featureCount
        let k = model.componentCount
        var paths: [String] = []
        var labels: [String] = []
        var identities: [ImageIdentity?] = []
        var features: [Float] = []
        func writeBlock() throws(ExtractionError) {
            guard !paths.isEmpty else { return }
            if Task.isCancelled { throw interruption }
            do {
                let projected = try model.project(features, rowCount: paths.count)
                let rows = paths.indices.map { index in
                    FeatureRow(
                        path: paths[index], label: labels[index],
                        features: Array(projected[(index * k)..<((index + 1) * k)]), identity: identities[index])
                }
                for writer in writers { try writer.write(rows) }
            } catch let error as OutputError {
                throw .output(error)
            } catch let error as PCAError {
                throw .pca(error)
            } catch {
                throw .invalidSettings("\(error)")
            }
            paths.removeAll(keepingCapacity: true)
            labels.removeAll(keepingCapacity: true)
            identities.removeAll(keepingCapacity: true)
            features.removeAll(keepingCapacity: true)
        }
        do throws(ExtractionError) {
            do throws(OutputError) {
                if settings.formats.contains(.parquet) {
                    writers.append(try ParquetResultWriter(
                        destination: output(ExtractionOutput.featuresParquet), featureCount: k,
                        options: settings.parquet, identityColumns: .sha256))
                }
                if settings.formats.contains(.csv) {
                    writers.append(try CSVResultWriter(destination: output(ExtractionOutput.featuresCSV), featureCount: k))
                }
            } catch {
                throw .output(error)
            }
            // Blocks of exactly `blockRows` rows, whatever the batches were.
            try ExtractionCheckpoint.forEachRecord(inJournal: journal, featureCount: featureCount) {
                record throws(ExtractionError) in
                var row = 0
                for entry in record.entries {
                    guard case .features(let path, let label) = entry else { continue }
                    paths.append(path)
                    labels.append(label)
                    identities.append(row < record.identities.count ? record.identities[row] : nil)
                    features.append(contentsOf: record.features[(row * featureCount)..<((row + 1) * featureCount)])
                    row += 1
                    if paths.count == Self.blockRows { try writeBlock() }
                }
            }
            try writeBlock()
            do throws(OutputError) {
                for writer in writers { try writer.finish() }
            } catch {
                throw .output(error)
            }
        } catch {
            writers.forEach { $0.discard() }
            throw error
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
