import Foundation
@testable import FruitFeatures

/// One case of Fixtures/golden/pca (written by Scripts/make_pca_golden.py with scikit-learn).
struct PCAGolden {
    let name: String
    let rows: Int
    let columns: Int
    let k: Int
    let totalVariance: Double
    let varianceShareK: [(share: Double, k: Int)]
    let data: [Float]  // (rows, columns)
    let mean: [Double]  // (columns)
    let components: [Double]  // (k, columns)
    let explainedVariance: [Double]  // (k)
    let explainedVarianceRatio: [Double]  // (k)
    let explainedVarianceRatioAll: [Double]  // (min(rows, columns))
    let transform: [Double]  // (rows, k)
    let transformUncentred: [Double]  // (rows, k)

    static let directory = FixturePaths.root.appendingPathComponent("golden/pca")

    struct LoadError: Error, CustomStringConvertible {
        let description: String
    }

    static func load(_ name: String) throws -> PCAGolden {
        let indexData = try Data(contentsOf: directory.appendingPathComponent("index.json"))
        guard let index = try JSONSerialization.jsonObject(with: indexData) as? [String: Any],
              let cases = index["cases"] as? [String: Any],
              let entry = cases[name] as? [String: Any],
              let files = entry["files"] as? [String: String],
              let rows = entry["rows"] as? Int, let columns = entry["columns"] as? Int, let k = entry["k"] as? Int,
              let total = entry["total_variance"] as? Double,
              let shares = entry["variance_share_k"] as? [String: Int]
        else { throw LoadError(description: "index.json: case \(name) missing or malformed") }

        func file(_ key: String) throws -> Data {
            guard let relative = files[key] else { throw LoadError(description: "index.json: \(name) has no \(key)") }
            return try Data(contentsOf: directory.appendingPathComponent(relative))
        }
        func doubles(_ key: String, count: Int) throws -> [Double] {
            let bytes = try file(key)
            guard bytes.count == count * 8 else { throw LoadError(description: "\(name)/\(key): \(bytes.count) bytes, expected \(count * 8)") }
            return bytes.withUnsafeBytes { raw in
                (0..<count).map { Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))) }
            }
        }
        func floats(_ key: String, count: Int) throws -> [Float] {
            let bytes = try file(key)
            guard bytes.count == count * 4 else { throw LoadError(description: "\(name)/\(key): \(bytes.count) bytes, expected \(count * 4)") }
            return bytes.withUnsafeBytes { raw in
                (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
            }
        }
        var parsedShares: [(share: Double, k: Int)] = []
        for (key, value) in shares {
            guard let share = Double(key) else { throw LoadError(description: "index.json: bad share \(key)") }
            parsedShares.append((share, value))
        }
        return PCAGolden(
            name: name, rows: rows, columns: columns, k: k, totalVariance: total,
            varianceShareK: parsedShares.sorted { $0.share < $1.share },
            data: try floats("data", count: rows * columns),
            mean: try doubles("mean", count: columns),
            components: try doubles("components", count: k * columns),
            explainedVariance: try doubles("explained_variance", count: k),
            explainedVarianceRatio: try doubles("explained_variance_ratio", count: k),
            explainedVarianceRatioAll: try doubles("explained_variance_ratio_all", count: min(rows, columns)),
            transform: try doubles("transform", count: rows * k),
            transformUncentred: try doubles("transform_uncentred", count: rows * k))
    }

    /// Rows `range` of the data as one row-major batch.
    func rows(_ range: Range<Int>) -> [Float] {
        Array(data[(range.lowerBound * columns)..<(range.upperBound * columns)])
    }
}

/// Plain double-precision references for the BLAS paths.
enum PCAReference {
    /// Σ (x − μ)(x − μ)ᵀ with the exact two-pass mean, by loops. // data: (rows, d) → (d, d)
    static func scatter(_ data: [Float], rows: Int, dimension d: Int) -> (mean: [Double], scatter: [Double]) {
        var mean = [Double](repeating: 0, count: d)
        for r in 0..<rows { for c in 0..<d { mean[c] += Double(data[r * d + c]) } }
        for c in 0..<d { mean[c] /= Double(rows) }
        var scatter = [Double](repeating: 0, count: d * d)
        var centred = [Double](repeating: 0, count: d)
        for r in 0..<rows {
            for c in 0..<d { centred[c] = Double(data[r * d + c]) - mean[c] }
            for i in 0..<d { for j in 0..<d { scatter[i * d + j] += centred[i] * centred[j] } }
        }
        return (mean, scatter)
    }

    /// (x − μ)·Vᵀ (or x·Vᵀ) by loops. // data: (rows, d), components: (k, d) → (rows, k)
    static func project(_ data: [Float], rows: Int, model: PCAModel) -> [Double] {
        let d = model.dimension, k = model.componentCount
        var out = [Double](repeating: 0, count: rows * k)
        for r in 0..<rows {
            for j in 0..<k {
                var sum = 0.0
                for c in 0..<d {
                    let x = Double(data[r * d + c]) - (model.centring == .centred ? model.mean[c] : 0)
                    sum += x * model.components[j * d + c]
                }
                out[r * k + j] = sum
            }
        }
        return out
    }
}

func maxAbsDifference(_ a: [Double], _ b: [Double]) -> Double {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}
