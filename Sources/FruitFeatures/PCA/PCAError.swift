/// Why a PCA could not be fitted, applied, saved or loaded.
public enum PCAError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A component count below 1.
    case invalidComponentCount(Int)
    /// A row dimension below 1 (or too large for BLAS's 32-bit sizes).
    case invalidDimension(Int)
    /// A target share of variance outside (0, 1].
    case invalidVarianceShare(Double)
    /// More components were requested than the data has dimensions.
    case componentsExceedDimension(requested: Int, dimension: Int)
    /// More components were requested than `rows` samples support: centred data of n rows spans at most n − 1 directions.
    case componentsExceedSamples(requested: Int, rows: Int)
    /// Fewer than two rows: the sample covariance (divided by n − 1) is undefined.
    case tooFewRows(Int)
    /// Every row is the same, so there is no variance to explain.
    case noVariance
    /// A NaN or infinity at `row` (0-based, counted from the first row given to this accumulator or projection) and `column`.
    case nonFiniteValue(row: Int, column: Int)
    /// A batch whose value count is not `rowCount × dimension`.
    case invalidBatch(valueCount: Int, rowCount: Int, dimension: Int)
    /// Data, an accumulator or a model of another dimension.
    case dimensionMismatch(expected: Int, actual: Int)
    /// A LAPACK routine reported failure (`info` as LAPACK returns it).
    case lapackFailure(routine: String, info: Int32)
    /// A stored or hand-built model or accumulator whose parts do not fit together.
    case invalidModel(String)
    /// A model file could not be written or read.
    case file(path: String, reason: String)

    /// A one-line explanation naming the offending value.
    public var description: String {
        switch self {
        case .invalidComponentCount(let count):
            return "PCA: the number of components must be at least 1, not \(count)"
        case .invalidDimension(let dimension):
            return "PCA: the row dimension must be between 1 and 46340, not \(dimension)"
        case .invalidVarianceShare(let share):
            return "PCA: the target share of variance must be in (0, 1], not \(share)"
        case .componentsExceedDimension(let requested, let dimension):
            return "PCA: \(requested) components requested but the data has only \(dimension) dimensions"
        case .componentsExceedSamples(let requested, let rows):
            return "PCA: \(requested) components requested but \(rows) rows support at most \(max(rows - 1, 0))"
        case .tooFewRows(let rows):
            return "PCA: at least 2 rows are needed to fit, got \(rows)"
        case .noVariance:
            return "PCA: all rows are identical, there is no variance to explain"
        case .nonFiniteValue(let row, let column):
            return "PCA: row \(row) has a non-finite value (NaN or infinity) in column \(column)"
        case .invalidBatch(let valueCount, let rowCount, let dimension):
            return "PCA: a batch of \(rowCount) rows of dimension \(dimension) needs \(rowCount * dimension) values, got \(valueCount)"
        case .dimensionMismatch(let expected, let actual):
            return "PCA: dimension \(actual) does not match the expected \(expected)"
        case .lapackFailure(let routine, let info):
            return "PCA: LAPACK \(routine) failed with info = \(info)"
        case .invalidModel(let reason):
            return "PCA: invalid model: \(reason)"
        case .file(let path, let reason):
            return "\(path): \(reason)"
        }
    }

    /// The explanation for a caller that names the model's file itself: the description without `path`.
    public func description(omitting path: String) -> String {
        description.replacingOccurrences(of: "\(path): ", with: "")
    }
}
