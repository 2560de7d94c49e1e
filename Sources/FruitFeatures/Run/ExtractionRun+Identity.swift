import Foundation

extension ExtractionRun {
    /// `raw_features.parquet`: the 1280 MobileNetV2 features of each image, with its SHA-256, size and time.
    public var rawFeaturesParquet: URL { generationDirectory.appendingPathComponent(ExtractionOutput.rawFeaturesParquet) }
    /// `duplicates.csv`: groups of files with identical bytes.
    public var duplicatesCSV: URL { generationDirectory.appendingPathComponent(ExtractionOutput.duplicates) }
    /// `evaluation_heldout.json`: written by `fruitfeatures evaluate --test`, into the run's generation (it goes with
    /// the run).
    public var heldOutEvaluationFile: URL { generationDirectory.appendingPathComponent(HeldOutEvaluation.fileName) }

    /// Reads `evaluation_heldout.json`; nil when the folder has none.
    public func readHeldOutEvaluation() throws(AnalysisError) -> HeldOutEvaluation? {
        guard fileExists(atPath: heldOutEvaluationFile.path) else { return nil }
        return try HeldOutEvaluation(contentsOf: heldOutEvaluationFile)
    }

    /// The SHA-256 of each of `paths`' bytes, from `raw_features.parquet` (nil for a path it does not list, or
    /// when the run was made before content hashes were recorded).
    public func contentKeys(of paths: [String]) throws(AnalysisError) -> [String?] {
        let file = rawFeaturesParquet.path
        guard fileExists(atPath: file) else { return paths.map { _ in nil } }
        do {
            let reader = try ParquetFileReader(path: file)
            guard reader.hasColumn("sha256") else { return paths.map { _ in nil } }
            var keyOfPath: [String: String] = [:]
            for (path, key) in zip(try reader.strings("path"), try reader.strings("sha256")) {
                if let path, let key { keyOfPath[path] = key }
            }
            return paths.map { keyOfPath[$0] }
        } catch {
            throw AnalysisError(.malformed, path: file, reason: error.reason)
        }
    }
}
