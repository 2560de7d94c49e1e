import COpenBLAS

/// A fitted PCA: the training mean, the principal axes and the variance each explains.
///
/// The parts have scikit-learn's names and shapes (`mean_`, `components_`, `explained_variance_`,
/// `explained_variance_ratio_`). ``project(_:rowCount:into:)`` maps rows of ``dimension`` values to
/// ``componentCount`` values, centred or not as ``centring`` says.
public struct PCAModel: Sendable, Equatable {
    /// The number of values per input row.
    public let dimension: Int
    /// The training rows' column means. // (dimension)
    public let mean: [Double]
    /// The principal axes as unit rows, by decreasing explained variance. // (componentCount, dimension)
    public let components: [Double]
    /// The variance along each axis: the covariance's eigenvalues. // (componentCount)
    public let explainedVariance: [Double]
    /// Each axis's share of the total variance (all axes', not only the kept ones). // (componentCount)
    public let explainedVarianceRatio: [Double]
    /// The number of rows the model was fitted on.
    public let sampleCount: Int
    /// Whether projection subtracts ``mean`` first.
    public let centring: PCACentring

    /// The number of principal components kept (k).
    public var componentCount: Int { explainedVariance.count }

    /// Rows converted and projected per BLAS call: bounds the temporaries.
    static let chunkRows = 256

    /// Creates a model from its parts, checking that their shapes fit together and that every value is finite.
    public init(
        mean: [Double], components: [Double], explainedVariance: [Double], explainedVarianceRatio: [Double],
        sampleCount: Int, centring: PCACentring
    ) throws(PCAError) {
        let d = mean.count
        let k = explainedVariance.count
        guard d >= 1, d <= PCAAccumulator.maximumDimension else { throw .invalidDimension(d) }
        guard k >= 1 else { throw .invalidComponentCount(k) }
        guard k <= d else { throw .componentsExceedDimension(requested: k, dimension: d) }
        guard components.count == k * d else {
            throw .invalidModel("components have \(components.count) values, expected \(k) × \(d)")
        }
        guard explainedVarianceRatio.count == k else {
            throw .invalidModel("\(explainedVarianceRatio.count) explained variance ratios for \(k) components")
        }
        guard sampleCount >= 0 else { throw .invalidModel("negative sample count \(sampleCount)") }
        for (name, values) in [("mean", mean), ("components", components), ("explained variance", explainedVariance),
                               ("explained variance ratio", explainedVarianceRatio)] {
            guard values.allSatisfy(\.isFinite) else { throw .invalidModel("non-finite value in the \(name)") }
        }
        dimension = d
        self.mean = mean
        self.components = components
        self.explainedVariance = explainedVariance
        self.explainedVarianceRatio = explainedVarianceRatio
        self.sampleCount = sampleCount
        self.centring = centring
    }

    /// Projects a batch of rows onto the principal axes, in double precision, writing `Float`s.
    ///
    /// - Parameters:
    ///   - values: `rowCount × dimension` values, row-major. // values: (rowCount, dimension)
    ///   - output: room for `rowCount × componentCount` values. // output: (rowCount, componentCount)
    /// - Throws: ``PCAError/invalidBatch(valueCount:rowCount:dimension:)`` for wrong sizes;
    ///   ``PCAError/nonFiniteValue(row:column:)`` naming the first NaN or infinity in `values`.
    public func project(
        _ values: UnsafeBufferPointer<Float>, rowCount: Int, into output: UnsafeMutableBufferPointer<Float>
    ) throws(PCAError) {
        let d = dimension
        let k = componentCount
        let (expected, overflow) = rowCount.multipliedReportingOverflow(by: d)
        guard rowCount >= 0, !overflow, values.count == expected else {
            throw .invalidBatch(valueCount: values.count, rowCount: rowCount, dimension: d)
        }
        guard output.count == rowCount * k else {
            throw .invalidBatch(valueCount: output.count, rowCount: rowCount, dimension: k)
        }
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw .nonFiniteValue(row: bad / d, column: bad % d)
        }
        let centred = centring == .centred
        var input = [Double](repeating: 0, count: min(rowCount, Self.chunkRows) * d)
        var projected = [Double](repeating: 0, count: min(rowCount, Self.chunkRows) * k)
        var start = 0
        while start < rowCount {
            let rows = min(Self.chunkRows, rowCount - start)
            input.withUnsafeMutableBufferPointer { input in
                mean.withUnsafeBufferPointer { mean in
                    for row in 0..<rows {
                        let base = (start + row) * d
                        for column in 0..<d {
                            let x = Double(values[base + column])
                            input[row * d + column] = centred ? x - mean[column] : x
                        }
                    }
                }
            }
            input.withUnsafeBufferPointer { input in
                components.withUnsafeBufferPointer { axes in
                    projected.withUnsafeMutableBufferPointer { projected in
                        // projected (rows, k) = input (rows, d) · axesᵀ (d, k)
                        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(k), Int32(d),
                                    1, input.baseAddress, Int32(d), axes.baseAddress, Int32(d),
                                    0, projected.baseAddress, Int32(k))
                    }
                }
            }
            for i in 0..<(rows * k) { output[start * k + i] = Float(projected[i]) }
            start += rows
        }
    }

    /// Projects a batch of rows given as one row-major array; returns `rowCount × componentCount` values.
    public func project(_ values: [Float], rowCount: Int) throws(PCAError) -> [Float] {
        var output = [Float](repeating: 0, count: max(rowCount, 0) * componentCount)
        try values.withUnsafeBufferPointer { (values) throws(PCAError) in
            try output.withUnsafeMutableBufferPointer { (output) throws(PCAError) in
                try project(values, rowCount: rowCount, into: output)
            }
        }
        return output
    }

    /// Replaces each row's features by their projection; paths and labels are kept.
    public func project(_ rows: [FeatureRow]) throws(PCAError) -> [FeatureRow] {
        var flat: [Float] = []
        flat.reserveCapacity(rows.count * dimension)
        for row in rows {
            guard row.features.count == dimension else {
                throw .dimensionMismatch(expected: dimension, actual: row.features.count)
            }
            flat.append(contentsOf: row.features)
        }
        let projected = try project(flat, rowCount: rows.count)
        let k = componentCount
        return rows.enumerated().map { index, row in
            FeatureRow(path: row.path, label: row.label, features: Array(projected[(index * k)..<((index + 1) * k)]))
        }
    }
}
