/// What an extraction did, written as `summary.json`.
public struct ExtractionSummary: Codable, Sendable, Equatable {
    /// The FruitFeatures version that wrote the outputs.
    public var version: String
    /// The input folder, as given.
    public var input: String
    /// The weights file and its SHA-256.
    public var weights: Weights
    /// What made the features; absent in runs made before FruitFeatures recorded it (those were all
    /// MobileNetV2 with the Keras preprocessing at 224: see ``featureModelIdentity``).
    public var featureModel: FeatureModelIdentity?
    /// Image counts.
    public var images: Counts
    /// Images processed per second by this run, wall clock, from start to the last output (a resumed run
    /// counts only the images it did not take from the checkpoint).
    public var imagesPerSecond: Double
    /// Wall-clock and per-stage seconds.
    public var seconds: Timings
    /// The fitted PCA.
    public var pca: PCASummary
    /// The settings of the run.
    public var settings: Settings
    /// Notes about the run, such as a reduced component count.
    public var warnings: [String]
    /// The kernel level the forward pass and the resize ran at (`portable`, `avx2`, `avx512`; see
    /// ``KernelLevel``); absent in summaries written before it was recorded.
    public var kernelLevel: String? = nil
    /// The input folder as an absolute path (where `--update` finds it again); absent in runs made before it
    /// was recorded.
    public var inputAbsolute: String? = nil
    /// Files with identical bytes (`duplicates.csv`); absent in runs made before content identities.
    public var duplicates: DuplicateCounts? = nil
    /// What `extract --update` reused and recomputed; absent for a plain extraction.
    public var update: UpdateCounts? = nil

    /// Groups of files with the same bytes.
    public struct DuplicateCounts: Codable, Sendable, Equatable {
        /// Groups of two or more files with identical bytes.
        public var groups: Int
        /// Files in those groups.
        public var files: Int
        /// Groups whose files carry different labels: the same photo filed under two fruits.
        public var labelConflicts: Int
    }

    /// What an update did, compared with the run it replaced.
    public struct UpdateCounts: Codable, Sendable, Equatable {
        /// Images whose path and bytes are unchanged: features reused.
        public var reused: Int
        /// Images at paths the earlier run did not have, with bytes it did not have either.
        public var new: Int
        /// Images at an earlier path whose bytes changed.
        public var changed: Int
        /// Images at a new path whose bytes the earlier run had (moved or copied): features reused.
        public var moved: Int
        /// Earlier images no longer found.
        public var removed: Int
        /// Files that could not be used in this run.
        public var failed: Int
        /// Images that went through the network: one per distinct content the earlier run did not have (as
        /// ``Counts/networkPasses``).
        public var networkPasses: Int
        /// `refit` (the default: the PCA of the whole new set) or `kept` (`--keep-pca`: the earlier components).
        public var pca: String
    }

    /// What made the features: ``featureModel``, or for a run that predates it, what made every such run
    /// (MobileNetV2, the Keras preprocessing, 224 × 224, the recorded alpha and weights).
    public var featureModelIdentity: FeatureModelIdentity {
        featureModel ?? FeatureModelIdentity.legacy(alpha: weights.alpha, weightsSHA256: weights.sha256)
    }

    /// The weights a run used.
    public struct Weights: Codable, Sendable, Equatable {
        /// The file: absolute since FruitFeatures recorded the feature model (as given before).
        public var path: String
        /// Its SHA-256, hexadecimal.
        public var sha256: String
        /// The width multiplier inferred from the weights, when it is a published one.
        public var alpha: Double?
    }

    /// How many images were found, used and skipped.
    public struct Counts: Codable, Sendable, Equatable {
        /// Files found (matching the pattern), including those that could not be used.
        public var found: Int
        /// Images with features in the outputs.
        public var processed: Int
        /// Entries listed in errors.csv.
        public var failed: Int
        /// Of those found, how many an interrupted run had finished (taken from its checkpoint, not
        /// recomputed); absent when the run was not resumed.
        public var resumed: Int? = nil
        /// Images whose features the network computed: one per distinct content a run needed (a copy of bytes
        /// already computed in the run, or reused from the run an update replaces, costs none); a resumed run
        /// counts those of its checkpoint too. Absent in summaries written before it was recorded.
        public var networkPasses: Int? = nil
    }

    /// Where the time went. Per-stage figures add up the time of all workers (CPU seconds of the stage).
    public struct Timings: Codable, Sendable, Equatable {
        /// Start to end of the run.
        public var total: Double
        /// Reading files, summed over workers.
        public var read: Double
        /// JPEG decoding, resizing and scaling, summed over workers.
        public var preprocess: Double
        /// MobileNetV2, summed over workers.
        public var network: Double
        /// Reading the raw features into the PCA statistics, the fit and writing pca.h5 (while the raw outputs are
        /// written beside it).
        public var pcaFit: Double
        /// Projecting and writing the PCA features.
        public var projection: Double
    }

    /// The fitted PCA.
    public struct PCASummary: Codable, Sendable, Equatable {
        /// Components kept.
        public var components: Int
        /// Whether features are centred before projection.
        public var centred: Bool
        /// Share of the total variance the kept components explain.
        public var explainedVarianceRatioTotal: Double
        /// Variance along each component.
        public var explainedVariance: [Double]
        /// Share of the total variance along each component.
        public var explainedVarianceRatio: [Double]
    }

    /// The settings of a run.
    public struct Settings: Codable, Sendable, Equatable {
        /// File-name pattern.
        public var glob: String
        /// Parallel batches.
        public var jobs: Int
        /// Images per batch.
        public var batchSize: Int
        /// Feature files written.
        public var formats: [String]
        /// Parquet compression.
        public var compression: String
        /// The component count asked for (`--components`); absent when it was the default or `--variance`.
        public var components: Int? = nil
        /// The share of variance asked for (`--variance`); absent otherwise.
        public var variance: Double? = nil
    }
}
