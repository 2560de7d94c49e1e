import Foundation

/// How an update's images compare with the run it replaces (counted from the journal, so a resumed update
/// counts the same).
struct UpdateTally {
    var reused = 0
    var new = 0
    var changed = 0
    var moved = 0
    var networkPasses = 0
    /// Journal entries (features or failures) whose path the earlier run had.
    var earlierPathsSeen = 0
}

extension ExtractionPipeline {
    /// Updates the finished run in `outputDirectory` to the images now under `input`, computing only what
    /// changed, and replaces it as a whole.
    ///
    /// Images whose path, size and modification time are the recorded ones keep their raw features without
    /// being read (unless ``ExtractionSettings/checksum``); other images are read and hashed, and keep the
    /// features of identical bytes seen before under any path (a moved or copied file costs no network pass);
    /// only new bytes go through the network. Earlier failures are tried again; files no longer there are
    /// dropped. The PCA is refit on the whole set, or the earlier one kept (``ExtractionSettings/keepsPCA``).
    /// Without `keepsPCA`, the outputs are those a fresh ``run(into:input:pattern:progress:)`` writes: the same
    /// rows in the same order, raw features bit for bit (the journal is fed in path order, so even the PCA
    /// accumulates in the same order).
    ///
    /// The new run is built in `OUT/.fruitfeatures-update` (with its own checkpoint: an interrupted update
    /// continues where it stopped when run again) and then replaces the old one file by file, summary.json
    /// last (``replaceRun(in:with:)``). A missing or empty `outputDirectory` gets a plain extraction.
    ///
    /// - Throws: ``ExtractionError/cannotUpdate(_:reason:)`` when the folder holds no finished run, or one made
    ///   with other weights or another feature count; the folder is then left untouched.
    public func update(
        _ outputDirectory: String, input: String, pattern: String,
        progress: @escaping @Sendable (ExtractionProgress) -> Void = { _ in }
    ) async throws(ExtractionError) -> ExtractionSummary {
        let manager = FileManager.default
        let staging = outputDirectory + "/" + ExtractionOutput.update
        let contents = (try? manager.contentsOfDirectory(atPath: outputDirectory)) ?? []
        if contents.isEmpty {
            var plainSettings = settings
            plainSettings.overwrite = false
            plainSettings.resume = false
            return try await with(plainSettings).run(into: outputDirectory, input: input, pattern: pattern, update: nil, progress: progress)
        }
        let lock = try OutputFolderLock(outputDirectory)
        defer { withExtendedLifetime(lock) {} }
        // A new run built completely but not yet in place (killed during the replacement): put it in place first.
        if manager.fileExists(atPath: staging + "/" + ExtractionOutput.summary) {
            try Self.replaceRun(in: outputDirectory, with: staging)
        }
        let summaryPath = outputDirectory + "/" + ExtractionOutput.summary
        guard let data = manager.contents(atPath: summaryPath) else {
            throw .cannotUpdate(outputDirectory, reason: "it holds no finished run (no summary.json); use --overwrite to start over")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let earlier: ExtractionSummary
        do {
            earlier = try decoder.decode(ExtractionSummary.self, from: data)
        } catch {
            throw .cannotUpdate(outputDirectory, reason: "summary.json is not the summary of a finished run: \(error)")
        }
        let sha256: String
        do {
            sha256 = try SHA256.hexDigest(ofFileAt: weightsPath)
        } catch {
            throw .cannotUpdate(outputDirectory, reason: "cannot hash the weights file \(weightsPath): \(error)")
        }
        guard earlier.weights.sha256 == sha256 else {
            throw .cannotUpdate(
                outputDirectory,
                reason: "it was made with other weights (\(earlier.weights.path), SHA-256 \(earlier.weights.sha256)), not \(weightsPath) (SHA-256 \(sha256)); use --overwrite to start over")
        }
        let reuse: ReusableFeatures
        do {
            reuse = try ReusableFeatures(
                rawFeatures: outputDirectory + "/" + ExtractionOutput.rawFeaturesParquet,
                featureCount: extractor.featureCount, trustsStamps: !settings.checksum)
        } catch {
            throw .cannotUpdate(outputDirectory, reason: "cannot read its raw features: \(error)")
        }
        var kept: PCAModel?
        if settings.keepsPCA {
            do {
                kept = try PCAModel(contentsOf: URL(fileURLWithPath: outputDirectory + "/" + ExtractionOutput.pcaModel))
            } catch {
                throw .cannotUpdate(outputDirectory, reason: "--keep-pca needs its PCA: \(error)")
            }
            if kept?.dimension != extractor.featureCount {
                throw .cannotUpdate(outputDirectory, reason: "its PCA takes \(kept?.dimension ?? 0) features, not \(extractor.featureCount)")
            }
        }
        var innerSettings = settings
        let resumes = manager.fileExists(atPath: staging + "/" + ExtractionOutput.checkpoint)
        innerSettings.resume = resumes
        innerSettings.overwrite = !resumes
        let summary = try await with(innerSettings).run(
            into: staging, input: input, pattern: pattern, update: RunUpdate(reuse: reuse, keptPCA: kept), progress: progress)
        try Self.replaceRun(in: outputDirectory, with: staging)
        return summary
    }

    /// The same pipeline with other settings.
    private func with(_ settings: ExtractionSettings) -> ExtractionPipeline {
        ExtractionPipeline(
            source: source, preprocessor: preprocessor, extractor: extractor, weightsPath: weightsPath, settings: settings)
    }

    /// Puts the finished run in `staging` in the place of the run in `directory`.
    ///
    /// This is the one place a run replaces another. summary.json goes first (from then on the folder no longer
    /// claims a finished run), the other outputs are renamed over the old ones, and the new summary.json is
    /// renamed in last, so `summary.json` is only ever present beside a complete set of one run's files. A kill
    /// in between leaves the remaining files in `staging`, and the next `--update` finishes the replacement.
    static func replaceRun(in directory: String, with staging: String) throws(ExtractionError) {
        let manager = FileManager.default
        func move(_ name: String) throws(ExtractionError) {
            let source = staging + "/" + name
            let target = directory + "/" + name
            if manager.fileExists(atPath: source) {
                guard rename(source, target) == 0 else {
                    throw .outputNotWritable(directory, reason: "cannot move \(source) into place: \(errnoText())")
                }
            } else if !manager.fileExists(atPath: staging + "/" + ExtractionOutput.summary) || name == ExtractionOutput.summary {
                return
            } else {
                unlink(target)  // an output the new run does not have (for example, another --format)
            }
        }
        unlink(directory + "/" + ExtractionOutput.summary)
        syncDirectory(directory)
        for name in ExtractionOutput.all where name != ExtractionOutput.summary { try move(name) }
        syncDirectory(directory)
        try move(ExtractionOutput.summary)
        syncDirectory(directory)
        try? manager.removeItem(atPath: staging)
    }

    /// Classifies one image with features against the run being updated.
    static func count(path: String, sha256: String, against reuse: ReusableFeatures, into tally: inout UpdateTally) {
        let earlier = reuse.earlier(path: path)
        if earlier.found {
            tally.earlierPathsSeen += 1
            // A run without identities keeps the features of the same path (see ReusableFeatures).
            if earlier.sha256 == nil || earlier.sha256 == sha256 {
                tally.reused += 1
                return
            }
            tally.changed += 1
        } else if reuse.hasContent(sha256) {
            tally.moved += 1
            return
        } else {
            tally.new += 1
        }
        if !reuse.hasContent(sha256) { tally.networkPasses += 1 }
    }

    /// `path` made absolute (symbolic links resolved), or as given when it cannot be resolved.
    static func absolutePath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private static func syncDirectory(_ path: String) {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        fsync(descriptor)
        close(descriptor)
    }
}
