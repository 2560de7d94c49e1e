import CLAPACKE

/// PCA with LAPACK: eigen-decomposition of the sample covariance, as scikit-learn's `svd_solver='covariance_eigh'`
/// and pyspark.ml's `PCA` do, or an SVD of the rows themselves when there are few.
///
/// - The covariance is the accumulator's centred scatter divided by n − 1.
/// - A fixed count k uses `dsyevr` for the k largest eigenpairs only; a variance share needs every
///   eigenvalue, so it uses `dsyevd` for the whole spectrum.
/// - When the accumulator still holds its rows (at most d / 4 of them), the eigenpairs come instead from an SVD
///   of the centred rows (`dgesdd`), as scikit-learn's `svd_solver='full'` does: X − μ = U Σ Vᵀ gives the
///   eigenvalues σ² / (n − 1) and the axes as the rows of Vᵀ, in O(n²d) rather than O(d³). The two routes
///   agree to rounding; each gives the same bits for the same rows in the same batches (an accumulator rebuilt from its
///   parts takes the eigensolver route).
/// - Explained variance ratios are λᵢ / trace(C): the trace is the sum of all eigenvalues, the total variance,
///   so the ratios equal scikit-learn's `explained_variance_ratio_` and pyspark.ml's `PCAModel.explainedVariance`.
/// - Eigenvalues that rounding makes slightly negative are clipped to 0, as scikit-learn does.
/// - Signs follow scikit-learn (`svd_flip` on the components): in each component the entry of largest
///   magnitude (the first such on ties) is positive, so results are deterministic.
public struct LAPACKPCA: PCA {
    /// How many components the fitted model keeps.
    public let components: PCAComponentCount
    /// Whether the fitted model projects centred (scikit-learn) or uncentred (pyspark.ml) rows.
    public let centring: PCACentring

    /// Creates a PCA keeping `components` components (200 by default) whose model projects centred rows by default.
    public init(components: PCAComponentCount = .default, centring: PCACentring = .centred) {
        self.components = components
        self.centring = centring
    }

    /// Fits a model to the rows summarised by `statistics`.
    ///
    /// - Throws: ``PCAError`` when the component count does not fit the data (k < 1, k > d, k > n − 1),
    ///   for fewer than 2 rows, when all rows are identical, or when LAPACK fails.
    ///
    /// LAPACK runs with OpenBLAS single-threaded (``BLASThreading``), so the model is the same bits whatever the
    /// caller's BLAS setting.
    public func fit(_ statistics: PCAAccumulator) throws(PCAError) -> PCAModel {
        try BLASThreading.singleThreaded { () throws(PCAError) -> PCAModel in try fitSingleThreaded(statistics) }
    }

    private func fitSingleThreaded(_ statistics: PCAAccumulator) throws(PCAError) -> PCAModel {
        let d = statistics.dimension
        let n = statistics.count
        // Centred data of n rows spans at most n − 1 directions.
        let supported = min(d, n - 1)
        switch components {
        case .count(let k):
            guard k >= 1 else { throw .invalidComponentCount(k) }
            guard k <= d else { throw .componentsExceedDimension(requested: k, dimension: d) }
            guard n >= 2 else { throw .tooFewRows(n) }
            guard k <= n - 1 else { throw .componentsExceedSamples(requested: k, rows: n) }
        case .varianceShare(let share):
            guard share > 0, share <= 1 else { throw .invalidVarianceShare(share) }
            guard n >= 2 else { throw .tooFewRows(n) }
        }

        // The total variance, trace(C) = Σ scatterᵢᵢ / (n − 1), the same sum whichever route follows.
        let scale = 1 / Double(n - 1)
        var total = 0.0
        for value in statistics.scatterDiagonal { total += value * scale }
        guard total > 0 else { throw .noVariance }

        // Eigenpairs in descending order, eigenvectors as rows: all n from the SVD of the held rows; from the
        // eigensolver the k largest for a fixed k, every one for a variance share.
        let allValues: [Double]
        let allVectors: [Double]
        if let held = statistics.heldRows {
            (allValues, allVectors) = try Self.singularPairs(rows: held, mean: statistics.mean, count: n, dimension: d)
        } else {
            // The whole d × d matrix only on this route: the SVD needs none of it.
            var covariance = statistics.scatter.map { $0 * scale }
            if case .count(let k) = components {
                (allValues, allVectors) = try Self.largestEigenpairs(of: &covariance, dimension: d, count: k)
            } else {
                (allValues, allVectors) = try Self.allEigenpairs(of: &covariance, dimension: d)
            }
        }
        var kept = supported
        switch components {
        case .count(let k):
            kept = k
        case .varianceShare(let share):
            var cumulative = 0.0
            for i in 0..<supported {
                cumulative += max(allValues[i], 0) / total
                if cumulative >= share {
                    kept = i + 1
                    break
                }
            }
        }
        let values = Array(allValues[0..<kept])
        var vectors = Array(allVectors[0..<(kept * d)])

        let k = values.count
        let variance = values.map { max($0, 0) }
        let ratio = variance.map { $0 / total }
        Self.fixSigns(&vectors, count: k, dimension: d)
        return try PCAModel(
            mean: statistics.mean, components: vectors, explainedVariance: variance,
            explainedVarianceRatio: ratio, sampleCount: n, centring: centring)
    }

    // The k largest eigenpairs of a symmetric matrix (upper triangle used; destroyed), descending.
    // matrix: (d, d) → values (k), vectors (k, d)
    static func largestEigenpairs(of matrix: inout [Double], dimension d: Int, count k: Int) throws(PCAError) -> ([Double], [Double]) {
        var found: Int32 = 0
        var ascending = [Double](repeating: 0, count: d)
        var columns = [Double](repeating: 0, count: d * k)  // (d, k): eigenvector j in column j
        var support = [Int32](repeating: 0, count: 2 * d)
        let info = matrix.withUnsafeMutableBufferPointer { a in
            LAPACKE_dsyevr(
                LAPACK_ROW_MAJOR, UInt8(ascii: "V").cChar, UInt8(ascii: "I").cChar, UInt8(ascii: "U").cChar,
                Int32(d), a.baseAddress, Int32(d), 0, 0, Int32(d - k + 1), Int32(d), 0,
                &found, &ascending, &columns, Int32(k), &support)
        }
        guard info == 0 else { throw .lapackFailure(routine: "dsyevr", info: info) }
        guard found == Int32(k) else { throw .lapackFailure(routine: "dsyevr (found \(found) of \(k) eigenvalues)", info: info) }
        return descending(values: ascending, columns: columns, dimension: d, count: k)
    }

    // Every eigenpair of a symmetric matrix (upper triangle used; destroyed), descending.
    // matrix: (d, d) → values (d), vectors (d, d)
    static func allEigenpairs(of matrix: inout [Double], dimension d: Int) throws(PCAError) -> ([Double], [Double]) {
        var ascending = [Double](repeating: 0, count: d)
        let info = matrix.withUnsafeMutableBufferPointer { a in
            LAPACKE_dsyevd(LAPACK_ROW_MAJOR, UInt8(ascii: "V").cChar, UInt8(ascii: "U").cChar,
                           Int32(d), a.baseAddress, Int32(d), &ascending)
        }
        guard info == 0 else { throw .lapackFailure(routine: "dsyevd", info: info) }
        return descending(values: ascending, columns: matrix, dimension: d, count: d)
    }

    // The eigenpairs of the rows' covariance from the SVD of the centred rows, descending: X − μ = U Σ Vᵀ,
    // eigenvalues σ² / (n − 1), eigenvectors the rows of Vᵀ (n ≤ d here).
    // rows: (n, d), mean: (d) → values (n), vectors (n, d)
    static func singularPairs(rows: [Float], mean: [Double], count n: Int, dimension d: Int) throws(PCAError) -> ([Double], [Double]) {
        var centred = [Double](repeating: 0, count: n * d)
        for row in 0..<n {
            for column in 0..<d { centred[row * d + column] = Double(rows[row * d + column]) - mean[column] }
        }
        var singular = [Double](repeating: 0, count: n)
        var left = [Double](repeating: 0, count: n * n)
        var axes = [Double](repeating: 0, count: n * d)
        let info = centred.withUnsafeMutableBufferPointer { a in
            LAPACKE_dgesdd(LAPACK_ROW_MAJOR, UInt8(ascii: "S").cChar, Int32(n), Int32(d), a.baseAddress, Int32(d),
                           &singular, &left, Int32(n), &axes, Int32(d))
        }
        guard info == 0 else { throw .lapackFailure(routine: "dgesdd", info: info) }
        let scale = 1 / Double(n - 1)
        return (singular.map { $0 * $0 * scale }, axes)
    }

    // LAPACK returns ascending eigenvalues with eigenvectors in columns; PCA wants descending rows.
    // columns: (d, count) → vectors (count, d)
    static func descending(values: [Double], columns: [Double], dimension d: Int, count: Int) -> ([Double], [Double]) {
        var sortedValues = [Double](repeating: 0, count: count)
        var rows = [Double](repeating: 0, count: count * d)
        for component in 0..<count {
            let column = count - 1 - component
            sortedValues[component] = values[column]
            for i in 0..<d { rows[component * d + i] = columns[i * count + column] }
        }
        return (sortedValues, rows)
    }

    // scikit-learn's svd_flip(u_based_decision=False): the entry of largest |value| in each row is made
    // positive; argmax takes the first on ties. // vectors: (count, d)
    static func fixSigns(_ vectors: inout [Double], count: Int, dimension d: Int) {
        for component in 0..<count {
            let base = component * d
            var largest = 0
            for i in 1..<d where abs(vectors[base + i]) > abs(vectors[base + largest]) { largest = i }
            if vectors[base + largest] < 0 {
                for i in 0..<d { vectors[base + i] = -vectors[base + i] }
            }
        }
    }
}

extension UInt8 {
    fileprivate var cChar: CChar { CChar(bitPattern: self) }
}
