import Foundation
import Testing
@testable import FruitFeatures

@Suite struct PCATests {
    // MARK: Against scikit-learn (Fixtures/golden/pca, Scripts/make_pca_golden.py)

    @Test(arguments: ["lowrank", "offset", "wide"])
    func matchesScikitLearn(caseName: String) throws {
        let golden = try PCAGolden.load(caseName)
        let model = try LAPACKPCA(components: .count(golden.k)).fit(golden.data, rowCount: golden.rows, dimension: golden.columns)
        #expect(model.dimension == golden.columns)
        #expect(model.componentCount == golden.k)
        #expect(model.sampleCount == golden.rows)
        #expect(maxAbsDifference(model.mean, golden.mean) <= 1e-9 * max(1, golden.mean.map(abs).max() ?? 1))
        #expect(maxAbsDifference(model.explainedVarianceRatio, golden.explainedVarianceRatio) <= 1e-6)
        for (ours, theirs) in zip(model.explainedVariance, golden.explainedVariance) {
            #expect(abs(ours - theirs) <= 1e-6 * theirs)
        }
        let total = model.explainedVariance[0] / model.explainedVarianceRatio[0]
        #expect(abs(total - golden.totalVariance) <= 1e-9 * golden.totalVariance)

        // Same sign convention as scikit-learn, so components agree without any flipping.
        #expect(maxAbsDifference(model.components, golden.components) <= 1e-6)

        // Projections within 1e-4 after sign alignment (the signs agree already; aligning keeps this
        // check about the numbers, the one above about the convention).
        let projected = try model.project(golden.data, rowCount: golden.rows).map(Double.init)
        let aligned = alignSigns(projected, to: golden.transform, rows: golden.rows, k: golden.k)
        #expect(maxAbsDifference(aligned, golden.transform) <= 1e-4)
    }

    @Test(arguments: ["lowrank", "offset", "wide"])
    func uncentredProjectionMatchesPySparkConvention(caseName: String) throws {
        let golden = try PCAGolden.load(caseName)
        let model = try LAPACKPCA(components: .count(golden.k), centring: .uncentred)
            .fit(golden.data, rowCount: golden.rows, dimension: golden.columns)
        #expect(model.centring == .uncentred)
        let projected = try model.project(golden.data, rowCount: golden.rows)
        for (ours, theirs) in zip(projected, golden.transformUncentred) {
            // Uncentred projections of the offset case are ~1e6: Float output resolution bounds the
            // absolute error there, so the bound is 1e-4 or a few Float ulps, whichever is larger.
            let bound = max(1e-4, 4 * Double(Float(theirs).ulp))
            #expect(abs(Double(ours) - theirs) <= bound)
        }
    }

    @Test(arguments: ["lowrank", "offset", "wide"])
    func everyRatioMatchesScikitLearn(caseName: String) throws {
        let golden = try PCAGolden.load(caseName)
        let all = min(golden.columns, golden.rows - 1)
        let model = try LAPACKPCA(components: .count(all)).fit(golden.data, rowCount: golden.rows, dimension: golden.columns)
        #expect(maxAbsDifference(model.explainedVarianceRatio, Array(golden.explainedVarianceRatioAll.prefix(all))) <= 1e-6)
    }

    @Test(arguments: ["lowrank", "offset", "wide"])
    func varianceShareChoosesScikitLearnsK(caseName: String) throws {
        let golden = try PCAGolden.load(caseName)
        #expect(!golden.varianceShareK.isEmpty)
        for (share, k) in golden.varianceShareK {
            let model = try LAPACKPCA(components: .varianceShare(share))
                .fit(golden.data, rowCount: golden.rows, dimension: golden.columns)
            #expect(model.componentCount == k, "share \(share)")
            let cumulative = model.explainedVarianceRatio.reduce(0, +)
            #expect(cumulative >= share)
            #expect(cumulative - model.explainedVarianceRatio[k - 1] < share)
            // The full-spectrum path (dsyevd, or the SVD for `wide`) agrees with the top-k path (dsyevr, or the SVD).
            let prefix = min(k, golden.k)
            #expect(maxAbsDifference(Array(model.components.prefix(prefix * golden.columns)),
                                     Array(golden.components.prefix(prefix * golden.columns))) <= 1e-6)
        }
        let everything = try LAPACKPCA(components: .varianceShare(1)).fit(golden.data, rowCount: golden.rows, dimension: golden.columns)
        #expect(everything.componentCount <= min(golden.columns, golden.rows - 1))
        #expect(abs(everything.explainedVarianceRatio.reduce(0, +) - 1) <= 1e-9)
    }

    // MARK: Streaming, batching and merging

    @Test func batchingDoesNotChangeTheModel() throws {
        let golden = try PCAGolden.load("offset")
        let one = try LAPACKPCA(components: .count(golden.k)).fit(golden.data, rowCount: golden.rows, dimension: golden.columns)
        // Uneven batches, an empty one, single rows, and one longer than the internal chunk.
        var statistics = try PCAAccumulator(dimension: golden.columns)
        var start = 0
        for size in [1, 0, 7, 1, 300, 2, 89] {
            try statistics.add(golden.rows(start..<(start + size)), rowCount: size)
            start += size
        }
        #expect(start == golden.rows)
        #expect(statistics.count == golden.rows)
        let many = try LAPACKPCA(components: .count(golden.k)).fit(statistics)
        expectClose(one, many)
    }

    @Test func mergedAccumulatorsEqualOneAccumulator() throws {
        let golden = try PCAGolden.load("offset")
        let d = golden.columns
        var whole = try PCAAccumulator(dimension: d)
        try whole.add(golden.data, rowCount: golden.rows)

        var parts: [PCAAccumulator] = []
        for range in [0..<50, 50..<51, 51..<400] {
            var part = try PCAAccumulator(dimension: d)
            try part.add(golden.rows(range), rowCount: range.count)
            parts.append(part)
        }
        var merged = try PCAAccumulator(dimension: d)
        try merged.merge(parts[2])  // into an empty accumulator
        try merged.merge(try PCAAccumulator(dimension: d))  // an empty one changes nothing
        try merged.merge(parts[0].merging(parts[1]))
        #expect(merged.count == whole.count)
        #expect(maxAbsDifference(merged.mean, whole.mean) <= 1e-9)
        let scale = whole.scatter.map(abs).max() ?? 1
        #expect(maxAbsDifference(merged.scatter, whole.scatter) <= 1e-12 * scale)

        let pca = LAPACKPCA(components: .count(golden.k))
        expectClose(try pca.fit(whole), try pca.fit(merged))
        #expect(maxAbsDifference(try pca.fit(merged).explainedVarianceRatio, golden.explainedVarianceRatio) <= 1e-6)

        // Rebuilt from its parts (as after sending them between processes), an accumulator is the same.
        let rebuilt = try PCAAccumulator(dimension: d, count: merged.count, mean: merged.mean, scatter: merged.scatter)
        #expect(rebuilt.scatter == merged.scatter)
        #expect(rebuilt.mean == merged.mean)
    }

    // MARK: Few rows: the SVD of the rows themselves

    /// Up to a quarter of the dimension the accumulator keeps its rows, in order, through batches and merges; past
    /// it, or rebuilt from its parts, it keeps none.
    @Test func theAccumulatorHoldsItsRowsWhileFew() throws {
        let golden = try PCAGolden.load("wide")  // 40 rows × 200: the limit is 50
        let d = golden.columns
        var batched = try PCAAccumulator(dimension: d)
        #expect(batched.heldRowLimit == 50)
        try batched.add(golden.rows(0..<15), rowCount: 15)
        try batched.add(golden.rows(15..<40), rowCount: 25)
        #expect(batched.heldRows == golden.data)
        var first = try PCAAccumulator(dimension: d), second = first
        try first.add(golden.rows(0..<15), rowCount: 15)
        try second.add(golden.rows(15..<40), rowCount: 25)
        let merged = try first.merging(second)
        #expect(merged.heldRows == golden.data)
        // The same rows and the same mean: the SVD gives the same bits, merged or not.
        let pca = LAPACKPCA(components: .count(golden.k))
        #expect(try pca.fit(merged) == pca.fit(batched))

        var over = batched
        try over.add(golden.rows(0..<11), rowCount: 11)  // 51 rows
        #expect(over.heldRows == nil)
        #expect(try merged.merging(merged).heldRows == nil)  // 80 rows
        let rebuilt = try PCAAccumulator(dimension: d, count: batched.count, mean: batched.mean, scatter: batched.scatter)
        #expect(rebuilt.heldRows == nil)
        // A rejected batch leaves the rows as they were.
        var rejected = batched
        #expect(throws: PCAError.self) { try rejected.add([Float](repeating: .nan, count: d), rowCount: 1) }
        #expect(rejected.heldRows == golden.data)
    }

    /// The SVD of the held rows and the eigensolver on their covariance (the accumulator rebuilt from its parts
    /// holds no rows) give the same model to rounding, for a fixed k and for a variance share.
    @Test(arguments: [PCAComponentCount.count(8), .count(39), .varianceShare(0.9)])
    func theTwoRoutesAgree(components: PCAComponentCount) throws {
        let golden = try PCAGolden.load("wide")
        var withRows = try PCAAccumulator(dimension: golden.columns)
        try withRows.add(golden.data, rowCount: golden.rows)
        let rebuilt = try PCAAccumulator(
            dimension: golden.columns, count: withRows.count, mean: withRows.mean, scatter: withRows.scatter)
        #expect(withRows.heldRows != nil && rebuilt.heldRows == nil)
        let pca = LAPACKPCA(components: components)
        let bySVD = try pca.fit(withRows)
        let byEigensolver = try pca.fit(rebuilt)
        // The held rows really go through the SVD: its eigenvalues, bit for bit, are the model's.
        let (singular, _) = try LAPACKPCA.singularPairs(
            rows: golden.data, mean: withRows.mean, count: golden.rows, dimension: golden.columns)
        #expect(bySVD.explainedVariance == Array(singular.prefix(bySVD.componentCount)).map { max($0, 0) })
        #expect(bySVD.componentCount == byEigensolver.componentCount)
        #expect(maxAbsDifference(bySVD.explainedVarianceRatio, byEigensolver.explainedVarianceRatio) <= 1e-9)
        // Well-separated leading axes agree closely; the trailing ones of a rank-39 spectrum only to rounding
        // relative to the largest eigenvalue, which the projections show.
        let leading = min(bySVD.componentCount, 8) * golden.columns
        #expect(maxAbsDifference(Array(bySVD.components.prefix(leading)), Array(byEigensolver.components.prefix(leading))) <= 1e-6)
        let a = try bySVD.project(golden.data, rowCount: golden.rows).map(Double.init)
        let b = try byEigensolver.project(golden.data, rowCount: golden.rows).map(Double.init)
        #expect(maxAbsDifference(alignSigns(a, to: b, rows: golden.rows, k: bySVD.componentCount), b) <= 1e-4)
    }

    @Test func scatterMatchesPlainReference() throws {
        let golden = try PCAGolden.load("offset")
        var statistics = try PCAAccumulator(dimension: golden.columns)
        try statistics.add(golden.data, rowCount: golden.rows)
        let reference = PCAReference.scatter(golden.data, rows: golden.rows, dimension: golden.columns)
        let scale = reference.scatter.map(abs).max() ?? 1
        #expect(maxAbsDifference(statistics.scatter, reference.scatter) <= 1e-11 * scale)
        #expect(maxAbsDifference(statistics.mean, reference.mean) <= 1e-9)
        let covariance = try statistics.covariance()
        #expect(maxAbsDifference(covariance, reference.scatter.map { $0 / Double(golden.rows - 1) }) <= 1e-11 * scale)
    }

    @Test(arguments: [PCACentring.centred, .uncentred])
    func projectionMatchesPlainReference(centring: PCACentring) throws {
        let golden = try PCAGolden.load("lowrank")
        let model = try LAPACKPCA(components: .count(golden.k), centring: centring)
            .fit(golden.data, rowCount: golden.rows, dimension: golden.columns)
        let fast = try model.project(golden.data, rowCount: golden.rows)
        let reference = PCAReference.project(golden.data, rows: golden.rows, model: model)
        for (ours, theirs) in zip(fast, reference) {
            #expect(ours == Float(theirs) || abs(Double(ours) - theirs) <= Double(Float(theirs).ulp))
        }
        // FeatureRow projection keeps paths and labels.
        let rows = (0..<3).map { FeatureRow(path: "/a/\($0).jpg", label: "L\($0)", features: golden.rows($0..<($0 + 1))) }
        let projectedRows = try model.project(rows)
        #expect(projectedRows.map(\.path) == rows.map(\.path))
        #expect(projectedRows.map(\.label) == rows.map(\.label))
        #expect(projectedRows.flatMap(\.features) == Array(fast.prefix(3 * golden.k)))
    }

    // MARK: 1280-d raw features, k = 200

    /// 300 rows of 1280: the accumulator holds them (the SVD route); rebuilt from its parts it does not (the
    /// eigensolver route). Each is checked against the covariance itself.
    @Test(arguments: [false, true])
    func fitsRawFeatureDimension(rebuiltFromParts: Bool) throws {
        let d = 1280, n = 300, k = 200
        var generator = SeededGenerator(seed: 1280)
        // Non-negative, pooled-activation-like values with correlated structure.
        let latent = (0..<(n * 16)).map { _ in generator.normal() }
        let loadings = (0..<(16 * d)).map { _ in generator.normal() }
        var data = [Float](repeating: 0, count: n * d)
        for r in 0..<n {
            for c in 0..<d {
                var v = 0.5 * generator.normal()
                for j in 0..<16 { v += latent[r * 16 + j] * loadings[j * d + c] / Double(j + 1) }
                data[r * d + c] = Float(max(v + 2, 0))
            }
        }
        var statistics = try PCAAccumulator(dimension: d)
        try statistics.add(Array(data[0..<(100 * d)]), rowCount: 100)
        try statistics.add(Array(data[(100 * d)...]), rowCount: n - 100)
        #expect(statistics.heldRows != nil)
        if rebuiltFromParts {
            statistics = try PCAAccumulator(
                dimension: d, count: statistics.count, mean: statistics.mean, scatter: statistics.scatter)
            #expect(statistics.heldRows == nil)
        }
        let model = try LAPACKPCA().fit(statistics)  // default: 200 components
        #expect(model.componentCount == k)
        #expect(model.components.count == k * d)

        // Orthonormal axes, eigen-equation C·v = λ·v, descending eigenvalues, ratio = λ / trace.
        let covariance = try statistics.covariance()
        let trace = (0..<d).reduce(0.0) { $0 + covariance[$1 * d + $1] }
        var worstResidual = 0.0, worstOrthogonality = 0.0
        for i in 0..<k {
            let v = Array(model.components[(i * d)..<((i + 1) * d)])
            for j in [0, i / 2, i] {
                let dot = zip(v, model.components[(j * d)..<((j + 1) * d)]).reduce(0.0) { $0 + $1.0 * $1.1 }
                worstOrthogonality = max(worstOrthogonality, abs(dot - (i == j ? 1 : 0)))
            }
            for row in stride(from: 0, to: d, by: 97) {
                var cv = 0.0
                for c in 0..<d { cv += covariance[row * d + c] * v[c] }
                worstResidual = max(worstResidual, abs(cv - model.explainedVariance[i] * v[row]))
            }
            #expect(abs(model.explainedVarianceRatio[i] - model.explainedVariance[i] / trace) <= 1e-15)
            if i > 0 { #expect(model.explainedVariance[i] <= model.explainedVariance[i - 1]) }
            let largest = v.indices.max { abs(v[$0]) < abs(v[$1]) } ?? 0
            #expect(v[largest] > 0)
        }
        #expect(worstOrthogonality <= 1e-10)
        #expect(worstResidual <= 1e-9 * model.explainedVariance[0])

        // The full-spectrum path agrees with the top-k path on the leading eigenvalues (dsyevd against dsyevr on
        // the eigensolver route; on the SVD route both come from one SVD).
        let shareModel = try LAPACKPCA(components: .varianceShare(0.9)).fit(statistics)
        let common = min(shareModel.componentCount, k)
        #expect(maxAbsDifference(Array(shareModel.explainedVariance.prefix(common)),
                                 Array(model.explainedVariance.prefix(common))) <= 1e-9 * model.explainedVariance[0])

        let projected = try model.project(Array(data[0..<(5 * d)]), rowCount: 5)
        #expect(projected.count == 5 * k)
        let reference = PCAReference.project(Array(data[0..<(5 * d)]), rows: 5, model: model)
        #expect(maxAbsDifference(projected.map(Double.init), reference) <= 1e-4)
    }

    // MARK: Errors

    @Test func componentCountErrors() throws {
        let golden = try PCAGolden.load("lowrank")
        var statistics = try PCAAccumulator(dimension: golden.columns)
        try statistics.add(golden.data, rowCount: golden.rows)
        #expect(throws: PCAError.invalidComponentCount(0)) { try LAPACKPCA(components: .count(0)).fit(statistics) }
        #expect(throws: PCAError.componentsExceedDimension(requested: 65, dimension: 64)) {
            try LAPACKPCA(components: .count(65)).fit(statistics)
        }
        for share in [0, -0.1, 1.5, Double.nan] {
            #expect(throws: PCAError.self) { try LAPACKPCA(components: .varianceShare(share)).fit(statistics) }
        }
        #expect(throws: PCAError.invalidVarianceShare(1.5)) { try LAPACKPCA(components: .varianceShare(1.5)).fit(statistics) }

        // 10 rows support at most 9 components.
        var few = try PCAAccumulator(dimension: golden.columns)
        try few.add(golden.rows(0..<10), rowCount: 10)
        #expect(throws: PCAError.componentsExceedSamples(requested: 10, rows: 10)) {
            try LAPACKPCA(components: .count(10)).fit(few)
        }
        #expect(try LAPACKPCA(components: .count(9)).fit(few).componentCount == 9)
        #expect(try LAPACKPCA(components: .varianceShare(1)).fit(few).componentCount <= 9)
    }

    @Test func tooFewRows() throws {
        var statistics = try PCAAccumulator(dimension: 4)
        #expect(throws: PCAError.tooFewRows(0)) { try LAPACKPCA(components: .count(1)).fit(statistics) }
        try statistics.add([1, 2, 3, 4], rowCount: 1)
        #expect(throws: PCAError.tooFewRows(1)) { try LAPACKPCA(components: .count(1)).fit(statistics) }
        #expect(throws: PCAError.tooFewRows(1)) { try LAPACKPCA(components: .varianceShare(0.5)).fit(statistics) }
        #expect(throws: PCAError.tooFewRows(1)) { try statistics.covariance() }
    }

    @Test func identicalRowsHaveNoVariance() throws {
        var statistics = try PCAAccumulator(dimension: 3)
        try statistics.add([1, 2, 3, 1, 2, 3, 1, 2, 3], rowCount: 3)
        #expect(throws: PCAError.noVariance) { try LAPACKPCA(components: .count(1)).fit(statistics) }
    }

    @Test func nonFiniteInputNamesTheRow() throws {
        var statistics = try PCAAccumulator(dimension: 4)
        try statistics.add((0..<20).map(Float.init), rowCount: 5)
        var batch = (0..<12).map(Float.init)
        batch[2 * 4 + 3] = .nan  // second batch, row 2, column 3 → row 7 overall
        #expect(throws: PCAError.nonFiniteValue(row: 7, column: 3)) { try statistics.add(batch, rowCount: 3) }
        batch[2 * 4 + 3] = 0
        batch[1] = -.infinity
        #expect(throws: PCAError.nonFiniteValue(row: 5, column: 1)) { try statistics.add(batch, rowCount: 3) }
        #expect(statistics.count == 5)  // a rejected batch leaves the accumulator unchanged
        #expect(PCAError.nonFiniteValue(row: 7, column: 3).description.contains("row 7"))

        let model = try LAPACKPCA(components: .count(2)).fit(statistics)
        #expect(throws: PCAError.nonFiniteValue(row: 1, column: 0)) {
            try model.project([0, 0, 0, 0, .infinity, 0, 0, 0], rowCount: 2)
        }
    }

    @Test func malformedBatchesAndModels() throws {
        #expect(throws: PCAError.invalidDimension(0)) { try PCAAccumulator(dimension: 0) }
        var statistics = try PCAAccumulator(dimension: 4)
        #expect(throws: PCAError.invalidBatch(valueCount: 7, rowCount: 2, dimension: 4)) { try statistics.add([Float](repeating: 0, count: 7), rowCount: 2) }
        #expect(throws: PCAError.invalidBatch(valueCount: 0, rowCount: -1, dimension: 4)) { try statistics.add([], rowCount: -1) }
        #expect(throws: PCAError.dimensionMismatch(expected: 4, actual: 3)) {
            try statistics.add([FeatureRow(path: "p", label: "l", features: [1, 2, 3])])
        }
        #expect(throws: PCAError.dimensionMismatch(expected: 4, actual: 5)) { try statistics.merge(try PCAAccumulator(dimension: 5)) }
        #expect(throws: PCAError.self) { try PCAAccumulator(dimension: 2, count: 3, mean: [0], scatter: [0, 0, 0, 0]) }
        #expect(throws: PCAError.self) { try PCAAccumulator(dimension: 2, count: 3, mean: [0, 0], scatter: [0, 0, 0]) }

        try statistics.add((0..<40).map { Float($0 * $0 % 7) }, rowCount: 10)
        let model = try LAPACKPCA(components: .count(2)).fit(statistics)
        #expect(throws: PCAError.invalidBatch(valueCount: 5, rowCount: 1, dimension: 4)) { try model.project([1, 2, 3, 4, 5], rowCount: 1) }
        #expect(throws: PCAError.dimensionMismatch(expected: 4, actual: 2)) {
            try model.project([FeatureRow(path: "p", label: "l", features: [1, 2])])
        }
        #expect(throws: PCAError.self) {
            try PCAModel(mean: [0, 0], components: [1, 0, 0], explainedVariance: [1], explainedVarianceRatio: [1], sampleCount: 2, centring: .centred)
        }
        #expect(throws: PCAError.self) {
            try PCAModel(mean: [0, .nan], components: [1, 0], explainedVariance: [1], explainedVarianceRatio: [1], sampleCount: 2, centring: .centred)
        }
        #expect(throws: PCAError.componentsExceedDimension(requested: 3, dimension: 2)) {
            try PCAModel(mean: [0, 0], components: [Double](repeating: 0, count: 6), explainedVariance: [1, 1, 1],
                         explainedVarianceRatio: [1, 1, 1], sampleCount: 2, centring: .centred)
        }
    }

    @Test func lapackFailureCarriesInfo() throws {
        // LAPACKE rejects a matrix containing NaN before calling LAPACK (info = −6: the sixth argument, A).
        var matrix: [Double] = [1, .nan, .nan, 1]
        #expect(throws: PCAError.lapackFailure(routine: "dsyevr", info: -6)) {
            try LAPACKPCA.largestEigenpairs(of: &matrix, dimension: 2, count: 1)
        }
        var other: [Double] = [1, .nan, .nan, 1]
        #expect(throws: PCAError.lapackFailure(routine: "dsyevd", info: -5)) {
            try LAPACKPCA.allEigenpairs(of: &other, dimension: 2)
        }
        #expect(PCAError.lapackFailure(routine: "dsyevd", info: -5).description.contains("info = -5"))
    }

    // MARK: Helpers

    func alignSigns(_ values: [Double], to reference: [Double], rows: Int, k: Int) -> [Double] {
        var aligned = values
        for j in 0..<k {
            var dot = 0.0
            for r in 0..<rows { dot += values[r * k + j] * reference[r * k + j] }
            if dot < 0 { for r in 0..<rows { aligned[r * k + j] = -aligned[r * k + j] } }
        }
        return aligned
    }

    func expectClose(_ a: PCAModel, _ b: PCAModel, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a.componentCount == b.componentCount, sourceLocation: sourceLocation)
        #expect(a.sampleCount == b.sampleCount, sourceLocation: sourceLocation)
        #expect(maxAbsDifference(a.mean, b.mean) <= 1e-9 * max(1, a.mean.map(abs).max() ?? 1), sourceLocation: sourceLocation)
        #expect(maxAbsDifference(a.explainedVarianceRatio, b.explainedVarianceRatio) <= 1e-12, sourceLocation: sourceLocation)
        #expect(maxAbsDifference(a.components, b.components) <= 1e-9, sourceLocation: sourceLocation)
    }
}
