import Foundation
@testable import FruitFeatures

/// The golden inputs and features written by Scripts/make_keras_fixtures.py (see Fixtures/golden/keras/index.json).
struct KerasGoldens {
    struct Index: Decodable {
        struct Input: Decodable {
            let file: String
            let shape: [Int]
        }
        struct Rows: Decodable {
            let file: String
            let rows: [String]
        }
        struct Model: Decodable {
            let feature_count: Int
            let inputs: Rows
            let images: Rows?
        }
        let inputs: [String: Input]
        let models: [String: Model]
    }

    static let directory = FixturePaths.root.appendingPathComponent("golden/keras")

    static func index() throws -> Index {
        try JSONDecoder().decode(Index.self, from: Data(contentsOf: directory.appendingPathComponent("index.json")))
    }

    /// Little-endian float32 values of a golden file.
    static func float32s(_ name: String) throws -> [Float] {
        let data = try Data(contentsOf: directory.appendingPathComponent(name))
        return data.withUnsafeBytes { bytes in
            stride(from: 0, to: bytes.count, by: 4).map { offset in
                Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
            }
        }
    }

    /// A golden input tensor (stored as float16, widened exactly).
    static func input(_ name: String) throws -> [Float] {
        let entry = try #require(try index().inputs[name])
        let data = try Data(contentsOf: directory.appendingPathComponent(entry.file))
        return data.withUnsafeBytes { bytes in
            stride(from: 0, to: bytes.count, by: 2).map { offset in
                Float(Float16(bitPattern: UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))))
            }
        }
    }

    /// Feature rows (name → 1280 floats) of a golden feature file.
    static func features(_ rows: Index.Rows, featureCount: Int) throws -> [(String, [Float])] {
        let values = try float32s(rows.file)
        return rows.rows.enumerated().map { index, name in
            (name, Array(values[(index * featureCount)..<((index + 1) * featureCount)]))
        }
    }
}

/// The largest absolute difference between two equally long vectors (infinity when lengths differ).
func maxAbsoluteDifference(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count else { return .infinity }
    var worst: Float = 0
    for (x, y) in zip(a, b) {
        let difference = abs(x - y)
        if !(difference <= worst) { worst = difference.isNaN ? .infinity : difference }
    }
    return worst
}

import Testing
