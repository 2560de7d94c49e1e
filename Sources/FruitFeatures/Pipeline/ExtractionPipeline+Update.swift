import Foundation

/// How an update's images compare with the run it replaces (counted from the journal, so a resumed update
/// counts the same).
struct UpdateTally {
    var reused = 0
    var new = 0
    var changed = 0
    var moved = 0
    /// Journal entries (features or failures) whose path the earlier run had.
    var earlierPathsSeen = 0
}

extension ExtractionPipeline {
    /// Updates the finished run in `outputDirectory` to the images now under `input`, computing only what
    /// changed, and replaces it as a whole.
    ///
    /// Images whose path, size and modification time are the recorded ones keep their raw features without being
    /// read (unless ``ExtractionSettings/checksum``); other images are read and hashed, and keep the features of
    /// identical bytes seen before under any path (a moved or copied file costs no network pass); only new bytes go
    /// through the network, once per distinct content (see ``run(into:input:pattern:progress:)``). Earlier failures are tried again; files no longer there are dropped. The PCA is refit
    /// on the whole set, or the earlier one kept (``ExtractionSettings/keepsPCA``). Without `keepsPCA`, the outputs
    /// are those a fresh ``run(into:input:pattern:progress:)`` writes: the same rows in the same order, raw
    /// features bit for bit (the journal is fed in path order, so the PCA even accumulates in the same order).
    ///
    /// The update is an ordinary run of the folder with the earlier features at hand: it is checkpointed in the
    /// folder (an interrupted update continues when run again) and written into a new generation that replaces
    /// the earlier run only when complete (``RunGenerations``), so a reader sees the old run or the new one. A
    /// missing or empty `outputDirectory` gets a plain extraction.
    ///
    /// - Throws: ``ExtractionError/cannotUpdate(_:reason:)`` when the folder holds no finished run, or one made
    ///   with another feature model or other weights; the folder is then left untouched.
    public func update(
        _ outputDirectory: String, input: String, pattern: String,
        progress: @escaping @Sendable (ExtractionProgress) -> Void = { _ in }
    ) async throws(ExtractionError) -> ExtractionSummary {
        let contents = (try? folderEntries(atPath: outputDirectory)) ?? []
        var runSettings = settings
        if contents.isEmpty {
            runSettings.overwrite = false
            runSettings.resume = false
            return try await with(runSettings).run(
                into: outputDirectory, input: input, pattern: pattern, update: nil, progress: progress)
        }
        let earlierRun: ExtractionRun
        let earlier: ExtractionSummary
        do {
            earlierRun = try ExtractionRun(directory: URL(fileURLWithPath: outputDirectory))
            guard let summary = try earlierRun.readSummary() else {
                throw ExtractionError.cannotUpdate(
                    outputDirectory, reason: "it holds no finished run (no summary.json); use --overwrite to start over")
            }
            earlier = summary
        } catch let error as ExtractionError {
            throw error
        } catch {
            throw .cannotUpdate(outputDirectory, reason: "\(error)")
        }
        if let mismatch = model.identity.mismatch(with: earlier.featureModelIdentity) {
            throw .cannotUpdate(
                outputDirectory,
                reason: "it was made with another feature model or other weights (\(mismatch); the run's weights: \(earlier.weights.path)); use --overwrite to start over")
        }
        if earlier.weights.sha256 != model.identity.weightsSHA256 {
            throw .cannotUpdate(
                outputDirectory,
                reason: "it was made with other weights (\(earlier.weights.path), SHA-256 \(earlier.weights.sha256)), not \(weightsPath); use --overwrite to start over")
        }
        let reuse: ReusableFeatures
        do {
            reuse = try ReusableFeatures(
                rawFeatures: earlierRun.rawFeaturesParquet.path, featureCount: model.featureCount,
                trustsStamps: !settings.checksum)
        } catch {
            throw .cannotUpdate(outputDirectory, reason: "cannot read its raw features: \(error)")
        }
        var kept: PCAModel?
        if settings.keepsPCA {
            do {
                kept = try earlierRun.readPCAModel()
            } catch {
                throw .cannotUpdate(outputDirectory, reason: "--keep-pca needs its PCA: \(error)")
            }
            if let kept, kept.dimension != model.featureCount {
                throw .cannotUpdate(outputDirectory, reason: "its PCA takes \(kept.dimension) features, not \(model.featureCount)")
            }
        }
        // An update that was interrupted left its checkpoint: continue it.
        let resumes = fileExists(atPath: outputDirectory + "/" + ExtractionOutput.checkpoint)
        runSettings.resume = resumes
        runSettings.overwrite = !resumes
        return try await with(runSettings).run(
            into: outputDirectory, input: input, pattern: pattern, update: RunUpdate(reuse: reuse, keptPCA: kept),
            progress: progress)
    }

    /// The same pipeline with other settings.
    private func with(_ settings: ExtractionSettings) -> ExtractionPipeline {
        ExtractionPipeline(source: source, model: model, weightsPath: weightsPath, settings: settings)
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
    }

    /// `path` made absolute (symbolic links resolved), or as given when it cannot be resolved.
    static func absolutePath(_ path: String) -> String {
        SystemCalls.resolvedPath(path) ?? path
    }
}
