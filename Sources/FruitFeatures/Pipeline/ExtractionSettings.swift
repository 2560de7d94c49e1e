import Foundation

/// A feature file format that `extract` can write.
public enum FeatureFileFormat: String, Sendable, CaseIterable, Codable {
    /// Apache Parquet: `path`, `label`, `features array<float>`, as the reference notebook writes.
    case parquet
    /// CSV: `path,label,feature_0,…`.
    case csv
}

/// How an extraction runs: PCA size, outputs and parallelism.
public struct ExtractionSettings: Sendable {
    /// How many PCA components to keep (default 200, as the reference notebook).
    public var components: PCAComponentCount = .default
    /// When the component count exceeds what the images can support (n − 1), keep n − 1 instead of
    /// failing. The CLI allows this only when the count was not given explicitly.
    public var reducesComponentsToFit = false
    /// Centred projection (scikit-learn) or uncentred (pyspark.ml's `PCAModel.transform`).
    public var centring: PCACentring = .centred
    /// Which feature files to write.
    public var formats: Set<FeatureFileFormat> = [.parquet, .csv]
    /// How many batches are decoded and run through the network at once (default: the number of cores).
    public var jobs: Int = ProcessInfo.processInfo.activeProcessorCount
    /// Images per batch, at most: the last batches of a run are smaller, so that the jobs finish together.
    /// No result depends on it.
    public var batchSize: Int = 16
    /// Whether an existing, non-empty output folder may be written into (starting afresh).
    public var overwrite = false
    /// Whether to continue the interrupted run whose checkpoint is in the output folder, skipping the
    /// images it finished. With no checkpoint there, a fresh run starts.
    public var resume = false
    /// Parquet layout and compression.
    public var parquet = ParquetWriterOptions()
    /// For ``ExtractionPipeline/update(_:input:pattern:progress:)``: hash every file instead of trusting an
    /// unchanged size and modification time (as rsync's `-c`).
    public var checksum = false
    /// For ``ExtractionPipeline/update(_:input:pattern:progress:)``: project with the earlier run's PCA instead
    /// of refitting it, so a consumer's feature space stays put.
    public var keepsPCA = false

    /// The default settings.
    public init() {}
}

/// The names of the files an extraction writes into its output folder.
public enum ExtractionOutput {
    /// PCA features, Parquet.
    public static let featuresParquet = "features.parquet"
    /// PCA features, CSV.
    public static let featuresCSV = "features.csv"
    /// The 1280 MobileNetV2 features, Parquet.
    public static let rawFeaturesParquet = "raw_features.parquet"
    /// The fitted PCA model, HDF5.
    public static let pcaModel = "pca.h5"
    /// Files that could not be used: `path,reason`.
    public static let errors = "errors.csv"
    /// Counts, timings, PCA variance and settings; written last, so its presence marks a complete run.
    public static let summary = "summary.json"
    /// Groups of files with identical bytes: `sha256,path,label`.
    public static let duplicates = "duplicates.csv"
    /// The hidden folder holding the finished work of an incomplete run (see `extract --resume`);
    /// removed once the run is complete.
    public static let checkpoint = ".fruitfeatures-checkpoint"

    static let all = [featuresParquet, featuresCSV, rawFeaturesParquet, pcaModel, errors, duplicates, summary]
}

/// A fatal problem that stops an extraction (bad images are not: they go to errors.csv).
public enum ExtractionError: Error, CustomStringConvertible, Sendable {
    /// The output folder exists and is not empty, and overwriting was not allowed.
    case outputNotEmpty(String)
    /// The output folder holds the checkpoint of an interrupted run, and neither resuming nor
    /// overwriting was asked for.
    case outputHoldsUnfinishedRun(String)
    /// The output folder holds files FruitFeatures did not write and no run marker: it is not ours to write into.
    case outputNotARun(String, foreign: [String])
    /// Another run is writing into the output folder.
    case outputInUse(String)
    /// Resuming was asked for, but the output folder's checkpoint cannot be continued.
    case cannotResume(String, reason: String)
    /// The output folder cannot be created or written.
    case outputNotWritable(String, reason: String)
    /// No image matched under the input folder.
    case noImages(input: String, pattern: String)
    /// Images were found, but none could be used.
    case noUsableImages(found: Int, errorsFile: String)
    /// Invalid settings.
    case invalidSettings(String)
    /// Fitting or applying the PCA failed.
    case pca(PCAError)
    /// Writing an output failed.
    case output(OutputError)
    /// The network could not run on a batch.
    case extraction(FeatureExtractionError)
    /// `--update` cannot update the output folder's run.
    case cannotUpdate(String, reason: String)
    /// The run was interrupted (its task cancelled); the outcomes of `done` of the `total` files found
    /// are in the checkpoint folder, and a resumed run continues from there.
    case interrupted(done: Int, total: Int, checkpoint: String)

    /// The kind of failure, for a caller that branches on it.
    public enum Kind: Sendable, Equatable {
        /// The output folder cannot be used as it is (not empty, an unfinished or foreign run, in use, not resumable).
        case outputNotUsable
        /// The output folder or a file in it cannot be written.
        case unwritable
        /// No image, or no usable image, was found.
        case noImages
        /// The settings are invalid.
        case invalidSettings
        /// Fitting or applying the PCA failed (``PCAError``).
        case pca
        /// The network could not run on a batch (``FeatureExtractionError``).
        case extraction
        /// The run was cancelled; it can be resumed.
        case interrupted
    }

    /// The kind of failure.
    public var kind: Kind {
        switch self {
        case .outputNotEmpty, .outputHoldsUnfinishedRun, .outputNotARun, .outputInUse, .cannotResume, .cannotUpdate:
            .outputNotUsable
        case .outputNotWritable, .output: .unwritable
        case .noImages, .noUsableImages: .noImages
        case .invalidSettings: .invalidSettings
        case .pca: .pca
        case .extraction: .extraction
        case .interrupted: .interrupted
        }
    }

    /// The file or folder concerned, when there is one: the output folder, the input folder, the errors file,
    /// the checkpoint or the file an output or PCA error names.
    public var path: String? {
        switch self {
        case .outputNotEmpty(let path), .outputHoldsUnfinishedRun(let path), .outputNotARun(let path, _),
             .outputInUse(let path), .cannotResume(let path, _), .outputNotWritable(let path, _), .cannotUpdate(let path, _):
            path
        case .noImages(let input, _): input
        case .noUsableImages(_, let errorsFile): errorsFile
        case .invalidSettings, .extraction: nil
        case .pca(let error): error.path
        case .output(let error): error.path
        case .interrupted(_, _, let checkpoint): checkpoint
        }
    }

    /// A one-line explanation naming the folder or file and the reason.
    public var description: String {
        switch self {
        case .outputNotEmpty(let path):
            return "output folder \(path) exists and is not empty (use --overwrite to write into it)"
        case .outputHoldsUnfinishedRun(let path):
            return "output folder \(path) holds an interrupted run (use --resume to finish it, or --overwrite to start again)"
        case .outputNotARun(let path, let foreign):
            let shown = foreign.prefix(3).joined(separator: ", ") + (foreign.count > 3 ? ", …" : "")
            return "output folder \(path) holds files that are not a FruitFeatures run (\(shown)); choose an empty or new folder"
        case .outputInUse(let path):
            return "output folder \(path) is in use by another fruitfeatures run"
        case .cannotResume(let path, let reason):
            return "cannot resume in \(path): \(reason)"
        case .outputNotWritable(let path, let reason):
            return "cannot write to output folder \(path): \(reason)"
        case .noImages(let input, let pattern):
            return "no images matching '\(pattern)' under \(input)"
        case .noUsableImages(let found, let errorsFile):
            return "none of the \(found) images could be used; reasons in \(errorsFile)"
        case .invalidSettings(let why):
            return why
        case .pca(let error):
            return error.description
        case .output(let error):
            return error.description
        case .extraction(let error):
            return error.description
        case .cannotUpdate(let path, let reason):
            return "cannot update the run in \(path): \(reason)"
        case .interrupted(let done, _, _) where done == 0:
            return "interrupted before any file was done: run the same command with --resume to start"
        case .interrupted(let done, let total, let checkpoint):
            return "interrupted; \(done) of \(total) files are done and saved in \(checkpoint): run the same command with --resume to finish"
        }
    }
}
