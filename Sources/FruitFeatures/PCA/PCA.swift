/// How many principal components a fit keeps.
public enum PCAComponentCount: Sendable, Equatable, CustomStringConvertible {
    /// Exactly this many components (the reference notebook uses 200).
    case count(Int)
    /// The fewest components whose cumulative explained-variance ratio reaches this share, in (0, 1].
    ///
    /// scikit-learn's `PCA(n_components=0.95)` asks for the cumulative ratio to *exceed* the share; the
    /// two agree except when a cumulative ratio equals the share exactly.
    case varianceShare(Double)

    /// 200 components, as the reference notebook's `PCA(k=200)`.
    public static let `default` = PCAComponentCount.count(200)

    /// The rule in words, for logs and error messages.
    public var description: String {
        switch self {
        case .count(let count): return "\(count) components"
        case .varianceShare(let share): return "components explaining \(share * 100)% of the variance"
        }
    }
}

/// Whether a PCA model subtracts the training mean before projecting.
public enum PCACentring: String, Sendable, Equatable, CaseIterable {
    /// Projects x − μ, as scikit-learn's `PCA.transform` does.
    case centred
    /// Projects x itself, as pyspark.ml's `PCAModel.transform` does (it never subtracts the mean).
    case uncentred
}

/// A principal component analysis: fits a ``PCAModel`` to the statistics of a set of rows.
///
/// Rows are summarised first, in as many batches as convenient, by a ``PCAAccumulator``; fitting needs
/// only that summary, so the rows themselves never have to be in memory together.
public protocol PCA: Sendable {
    /// How many components the fitted model keeps.
    var components: PCAComponentCount { get }
    /// Whether the fitted model projects centred or uncentred rows.
    var centring: PCACentring { get }

    /// Fits a model to the rows summarised by `statistics`.
    func fit(_ statistics: PCAAccumulator) throws(PCAError) -> PCAModel
}

extension PCA {
    /// Fits a model to one batch of rows held in memory. // values: (rowCount, dimension)
    public func fit(_ values: [Float], rowCount: Int, dimension: Int) throws(PCAError) -> PCAModel {
        var statistics = try PCAAccumulator(dimension: dimension)
        try statistics.add(values, rowCount: rowCount)
        return try fit(statistics)
    }
}
