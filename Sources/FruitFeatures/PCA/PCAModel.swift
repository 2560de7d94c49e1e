import Foundation

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
    /// What made the features the model was fitted on (the extraction sets it; `pca.h5` records it); nil when
    /// unknown: a model fitted from bare rows (the C ABI), or read from a file that does not say.
    public var featureModel: FeatureModelIdentity? = nil

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
                        // projected (rows, k) = input (rows, d) · axesᵀ (d, k), each entry by one fixed-order dot
                        // product: the same bits for any row count, batch or BLAS thread setting (no BLAS here).
                        // Four rows at a time share each axis's loads: the axes (k × d doubles, 2 MB at 200 × 1280)
                        // outgrow L2, and streaming them once per row made this the run's slowest step after the fit.
                        var row = 0
                        while row + 4 <= rows {
                            let x = input.baseAddress! + row * d
                            for component in 0..<k {
                                let sums = Self.dots4(x, stride: d, axis: axes.baseAddress! + component * d, count: d)
                                for r in 0..<4 { projected[(row + r) * k + component] = sums[r] }
                            }
                            row += 4
                        }
                        for row in row..<rows {
                            let x = UnsafeBufferPointer(rebasing: input[(row * d)..<((row + 1) * d)])
                            for component in 0..<k {
                                let axis = UnsafeBufferPointer(rebasing: axes[(component * d)..<((component + 1) * d)])
                                projected[row * k + component] = Self.dot(x, axis)
                            }
                        }
                    }
                }
            }
            for i in 0..<(rows * k) { output[start * k + i] = Float(projected[i]) }
            start += rows
        }
    }

    /// Σ a[i]·b[i] in double precision, in one fixed order: four interleaved partial sums (i mod 4) added as
    /// (s0 + s1) + (s2 + s3), then the tail in order. The projection's only arithmetic, so its results depend on
    /// nothing but the two vectors. (``referenceDot(_:_:)`` is the plain loop it is tested against.)
    @inline(__always)
    static func dot(_ a: UnsafeBufferPointer<Double>, _ b: UnsafeBufferPointer<Double>) -> Double {
        let n = a.count
        let body = n & ~3
        var sums = SIMD4<Double>(repeating: 0)
        var i = 0
        while i < body {
            let x = SIMD4(a[i], a[i + 1], a[i + 2], a[i + 3])
            let y = SIMD4(b[i], b[i + 1], b[i + 2], b[i + 3])
            sums += x * y
            i += 4
        }
        var total = (sums[0] + sums[1]) + (sums[2] + sums[3])
        while i < n {
            total += a[i] * b[i]
            i += 1
        }
        return total
    }

    /// The dots of four consecutive rows (`stride` apart) with one axis, each computed exactly as ``dot(_:_:)``
    /// computes it (the same partial sums, the same order), so a row's result never depends on its neighbours.
    /// // rows: (4, stride), axis: (count) → (4)
    @inline(__always)
    static func dots4(
        _ rows: UnsafePointer<Double>, stride: Int, axis: UnsafePointer<Double>, count n: Int
    ) -> SIMD4<Double> {
        let body = n & ~3
        let x0 = rows, x1 = rows + stride, x2 = rows + 2 * stride, x3 = rows + 3 * stride
        var s0 = SIMD4<Double>(repeating: 0), s1 = s0, s2 = s0, s3 = s0
        var i = 0
        while i < body {
            let y = SIMD4(axis[i], axis[i + 1], axis[i + 2], axis[i + 3])
            s0 += SIMD4(x0[i], x0[i + 1], x0[i + 2], x0[i + 3]) * y
            s1 += SIMD4(x1[i], x1[i + 1], x1[i + 2], x1[i + 3]) * y
            s2 += SIMD4(x2[i], x2[i + 1], x2[i + 2], x2[i + 3]) * y
            s3 += SIMD4(x3[i], x3[i + 1], x3[i + 2], x3[i + 3]) * y
            i += 4
        }
        var totals = SIMD4(
            (s0[0] + s0[1]) + (s0[2] + s0[3]), (s1[0] + s1[1]) + (s1[2] + s1[3]),
            (s2[0] + s2[1]) + (s2[2] + s2[3]), (s3[0] + s3[1]) + (s3[2] + s3[3]))
        while i < n {
            totals[0] += x0[i] * axis[i]
            totals[1] += x1[i] * axis[i]
            totals[2] += x2[i] * axis[i]
            totals[3] += x3[i] * axis[i]
            i += 1
        }
        return totals
    }

    /// Σ a[i]·b[i], left to right: the reference for ``dot(_:_:)``.
    static func referenceDot(_ a: UnsafeBufferPointer<Double>, _ b: UnsafeBufferPointer<Double>) -> Double {
        var total = 0.0
        for i in 0..<a.count { total += a[i] * b[i] }
        return total
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
