import COpenBLAS

/// Streaming statistics for a PCA fit: the row count, the column means and the centred scatter matrix,
/// all in double precision.
///
/// Memory is O(d²) whatever the number of rows: batches of `Float` rows are folded in as they come and
/// can be dropped afterwards. Two accumulators of the same dimension merge into the statistics of all their
/// rows, so partitions can be accumulated separately (on other threads or machines) and combined.
///
/// Rather than the raw Gram matrix XᵀX and column sums (whose difference XᵀX − n·μμᵀ cancels
/// catastrophically when the data sits far from the origin), every chunk of rows is centred on its own
/// mean, its scatter is formed with BLAS `dsyrk`, and chunks are combined with the pairwise update of
/// Chan, Golub and LeVeque: M = Mₐ + M_b + δδᵀ·nₐn_b/n with δ = μ_b − μₐ.
public struct PCAAccumulator: Sendable {
    /// The number of columns of every row.
    public let dimension: Int
    /// The number of rows folded in so far.
    public private(set) var count: Int = 0
    /// The column means of the rows so far (zeros before the first row).
    public private(set) var mean: [Double]
    // Σ (x − mean)(x − mean)ᵀ, d × d row-major. Only the upper triangle (column ≥ row) is kept up to
    // date: dsyrk and dsyr write one triangle, and the covariance is symmetric.
    private var scatterUpper: [Double]
    /// The rows themselves, in the order they came, while there are at most ``heldRowLimit`` of them; nil once
    /// there are more, or when the accumulator was rebuilt from the parts of one with rows. With few rows (a first
    /// photo set, a test) ``LAPACKPCA`` fits by an SVD of the centred rows, which costs O(n²d) instead of the d × d
    /// eigensolver's O(d³) (0.15 s at d = 1280, whatever n). // (count, dimension)
    private(set) var heldRows: [Float]? = []

    /// Rows held for the SVD fit: up to a quarter of the dimension (320 at d = 1280), where the SVD stops being
    /// the cheaper of the two.
    var heldRowLimit: Int { dimension / 4 }

    /// Rows centred and multiplied per BLAS call: bounds the temporary (chunkRows × d doubles, 2.6 MB at
    /// d = 1280) while keeping dsyrk efficient.
    static let chunkRows = 256

    /// The largest supported dimension: d² must fit BLAS's 32-bit sizes.
    public static let maximumDimension = 46_340

    /// Creates an empty accumulator for rows of `dimension` columns.
    public init(dimension: Int) throws(PCAError) {
        // BLAS sizes are 32-bit: d² must fit in Int32.
        guard dimension >= 1, dimension <= Self.maximumDimension else { throw .invalidDimension(dimension) }
        self.dimension = dimension
        mean = [Double](repeating: 0, count: dimension)
        scatterUpper = [Double](repeating: 0, count: dimension * dimension)
    }

    /// Recreates an accumulator from its parts, as read back from ``count``, ``mean`` and ``scatter``
    /// (for example after sending them between processes). Only the upper triangle of `scatter` is used.
    public init(dimension: Int, count: Int, mean: [Double], scatter: [Double]) throws(PCAError) {
        try self.init(dimension: dimension)
        guard count >= 0 else { throw .invalidModel("negative row count \(count)") }
        guard mean.count == dimension else { throw .dimensionMismatch(expected: dimension, actual: mean.count) }
        guard scatter.count == dimension * dimension else {
            throw .invalidModel("scatter has \(scatter.count) values, expected \(dimension) × \(dimension)")
        }
        guard mean.allSatisfy(\.isFinite), scatter.allSatisfy(\.isFinite) else {
            throw .invalidModel("non-finite mean or scatter")
        }
        self.count = count
        if count > 0 {
            heldRows = nil
            self.mean = mean
            for row in 0..<dimension {
                for column in row..<dimension {
                    scatterUpper[row * dimension + column] = scatter[row * dimension + column]
                }
            }
        }
    }

    /// The scatter matrix Σ (x − μ)(x − μ)ᵀ over all rows so far: d × d, row-major, symmetric.
    public var scatter: [Double] {
        var full = scatterUpper
        let d = dimension
        for row in 0..<d {
            for column in 0..<row {
                full[row * d + column] = scatterUpper[column * d + row]
            }
        }
        return full
    }

    /// The diagonal of ``scatter`` (d values), without forming the whole matrix.
    var scatterDiagonal: [Double] {
        (0..<dimension).map { scatterUpper[$0 * dimension + $0] }
    }

    /// The sample covariance (divided by n − 1, as scikit-learn and Spark do): d × d, row-major, symmetric.
    public func covariance() throws(PCAError) -> [Double] {
        guard count >= 2 else { throw .tooFewRows(count) }
        let scale = 1 / Double(count - 1)
        return scatter.map { $0 * scale }
    }

    /// Folds in a batch of rows.
    ///
    /// - Parameters:
    ///   - values: `rowCount × dimension` values, row-major. // values: (rowCount, dimension)
    ///   - rowCount: the number of rows in the batch (0 is allowed and changes nothing).
    /// - Throws: ``PCAError/invalidBatch(valueCount:rowCount:dimension:)`` for a wrong value count;
    ///   ``PCAError/nonFiniteValue(row:column:)`` naming the first NaN or infinity (the accumulator is then unchanged).
    public mutating func add(_ values: UnsafeBufferPointer<Float>, rowCount: Int) throws(PCAError) {
        let d = dimension
        let (expected, overflow) = rowCount.multipliedReportingOverflow(by: d)
        guard rowCount >= 0, !overflow, values.count == expected else {
            throw .invalidBatch(valueCount: values.count, rowCount: rowCount, dimension: d)
        }
        guard rowCount > 0 else { return }
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw .nonFiniteValue(row: count + bad / d, column: bad % d)
        }
        if heldRows != nil {
            if count + rowCount <= heldRowLimit { heldRows!.append(contentsOf: values) } else { heldRows = nil }
        }
        var centred = [Double](repeating: 0, count: min(rowCount, Self.chunkRows) * d)
        var chunkMean = [Double](repeating: 0, count: d)
        var start = 0
        while start < rowCount {
            let rows = min(Self.chunkRows, rowCount - start)
            // Two passes over the chunk: its mean, then the rows minus that mean, both in double.
            chunkMean.withUnsafeMutableBufferPointer { chunkMean in
                centred.withUnsafeMutableBufferPointer { centred in
                    for column in 0..<d { chunkMean[column] = 0 }
                    for row in 0..<rows {
                        let base = (start + row) * d
                        for column in 0..<d { chunkMean[column] += Double(values[base + column]) }
                    }
                    let inverse = 1 / Double(rows)
                    for column in 0..<d { chunkMean[column] *= inverse }
                    for row in 0..<rows {
                        let base = (start + row) * d
                        for column in 0..<d {
                            centred[row * d + column] = Double(values[base + column]) - chunkMean[column]
                        }
                    }
                }
            }
            fold(rows: rows, mean: chunkMean, centred: centred)
            start += rows
        }
    }

    /// Folds in a batch of rows given as one row-major array (`rowCount × dimension` values).
    public mutating func add(_ values: [Float], rowCount: Int) throws(PCAError) {
        try values.withUnsafeBufferPointer { (buffer) throws(PCAError) in try add(buffer, rowCount: rowCount) }
    }

    /// Folds in the feature vectors of a batch of rows (for example raw features read back from a file).
    public mutating func add(_ rows: [FeatureRow]) throws(PCAError) {
        var flat: [Float] = []
        flat.reserveCapacity(rows.count * dimension)
        for row in rows {
            guard row.features.count == dimension else {
                throw .dimensionMismatch(expected: dimension, actual: row.features.count)
            }
            flat.append(contentsOf: row.features)
        }
        try add(flat, rowCount: rows.count)
    }

    /// Adds the rows summarised by another accumulator of the same dimension.
    public mutating func merge(_ other: PCAAccumulator) throws(PCAError) {
        guard other.dimension == dimension else { throw .dimensionMismatch(expected: dimension, actual: other.dimension) }
        guard other.count > 0 else { return }
        guard count > 0 else {
            self = other
            return
        }
        if let mine = heldRows, let theirs = other.heldRows, count + other.count <= heldRowLimit {
            heldRows = mine + theirs
        } else {
            heldRows = nil
        }
        let d = Int32(dimension)
        other.scatterUpper.withUnsafeBufferPointer { source in
            scatterUpper.withUnsafeMutableBufferPointer { target in
                BLASThreading.singleThreaded { cblas_daxpy(d * d, 1, source.baseAddress, 1, target.baseAddress, 1) }
            }
        }
        combine(count: other.count, mean: other.mean)
    }

    /// The statistics of both accumulators' rows together.
    public func merging(_ other: PCAAccumulator) throws(PCAError) -> PCAAccumulator {
        var result = self
        try result.merge(other)
        return result
    }

    // Adds a chunk given as its row count, mean and centred rows. // centred: (rows, d)
    private mutating func fold(rows: Int, mean chunkMean: [Double], centred: [Double]) {
        let d = Int32(dimension)
        let first = count == 0
        centred.withUnsafeBufferPointer { centred in
            scatterUpper.withUnsafeMutableBufferPointer { scatter in
                // scatter (d, d) ← centredᵀ · centred (+ scatter): the chunk's own scatter.
                BLASThreading.singleThreaded {
                    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, Int32(rows), 1,
                                centred.baseAddress, d, first ? 0 : 1, scatter.baseAddress, d)
                }
            }
        }
        if first {
            count = rows
            mean = chunkMean
        } else {
            combine(count: rows, mean: chunkMean)
        }
    }

    // The cross term of the pairwise update, once the other part's scatter has been added.
    private mutating func combine(count otherCount: Int, mean otherMean: [Double]) {
        let total = count + otherCount
        let weight = Double(count) * Double(otherCount) / Double(total)
        let share = Double(otherCount) / Double(total)
        var delta = [Double](repeating: 0, count: dimension)
        for column in 0..<dimension { delta[column] = otherMean[column] - mean[column] }
        let d = Int32(dimension)
        delta.withUnsafeBufferPointer { delta in
            scatterUpper.withUnsafeMutableBufferPointer { scatter in
                // scatter += weight · δδᵀ (upper triangle)
                BLASThreading.singleThreaded {
                    cblas_dsyr(CblasRowMajor, CblasUpper, d, weight, delta.baseAddress, 1, scatter.baseAddress, d)
                }
            }
        }
        for column in 0..<dimension { mean[column] += delta[column] * share }
        count = total
    }
}
