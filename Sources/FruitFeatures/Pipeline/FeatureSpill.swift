#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An append-only file of feature rows, so that the projection pass streams instead of holding
/// every row in memory.
///
/// Record layout (little-endian): `u32 path length, path UTF-8, u32 label length, label UTF-8,
/// dimension × f32`.
final class FeatureSpillWriter {
    let path: String
    let dimension: Int
    private let handle: UnsafeMutablePointer<FILE>
    private(set) var rowCount = 0

    init(path: String, dimension: Int) throws(OutputError) {
        guard let handle = fopen(path, "wb") else {
            throw OutputError(.create, path: path, reason: "cannot create spill file: \(errnoText())")
        }
        self.path = path
        self.dimension = dimension
        self.handle = handle
    }

    deinit { fclose(handle) }

    func append(path rowPath: String, label: String, features: UnsafeBufferPointer<Float>) throws(OutputError) {
        guard features.count == dimension else {
            throw OutputError(.invalidRow, path: path, reason: "\(rowPath) has \(features.count) features, not \(dimension)")
        }
        var record: [UInt8] = []
        record.reserveCapacity(8 + rowPath.utf8.count + label.utf8.count)
        for text in [rowPath, label] {
            let count = UInt32(text.utf8.count)
            withUnsafeBytes(of: count.littleEndian) { record.append(contentsOf: $0) }
            record.append(contentsOf: text.utf8)
        }
        let ok = record.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, handle) == $0.count }
            && fwrite(features.baseAddress, MemoryLayout<Float>.size, dimension, handle) == dimension
        guard ok else { throw OutputError(.write, path: path, reason: "cannot write spill file: \(errnoText())") }
        rowCount += 1
    }

    func close() throws(OutputError) {
        guard fflush(handle) == 0 else { throw OutputError(.write, path: path, reason: "cannot write spill file: \(errnoText())") }
    }
}

/// Reads back what a ``FeatureSpillWriter`` wrote, in blocks of rows.
final class FeatureSpillReader {
    let path: String
    let dimension: Int
    private let handle: UnsafeMutablePointer<FILE>

    init(path: String, dimension: Int) throws(OutputError) {
        guard let handle = fopen(path, "rb") else {
            throw OutputError(.create, path: path, reason: "cannot open spill file: \(errnoText())")
        }
        self.path = path
        self.dimension = dimension
        self.handle = handle
    }

    deinit { fclose(handle) }

    /// Reads up to `limit` rows: their paths and labels, and their features one after another.
    func next(limit: Int) throws(OutputError) -> (paths: [String], labels: [String], features: [Float]) {
        var paths: [String] = []
        var labels: [String] = []
        var features: [Float] = []
        features.reserveCapacity(limit * dimension)
        var row = [Float](repeating: 0, count: dimension)
        while paths.count < limit {
            guard let rowPath = try readText(allowEnd: true) else { break }
            guard let label = try readText(allowEnd: false) else { break }
            let count = row.withUnsafeMutableBufferPointer { fread($0.baseAddress, MemoryLayout<Float>.size, dimension, handle) }
            guard count == dimension else { throw truncated() }
            paths.append(rowPath)
            labels.append(label)
            features.append(contentsOf: row)
        }
        return (paths, labels, features)
    }

    private func readText(allowEnd: Bool) throws(OutputError) -> String? {
        var length: UInt32 = 0
        let read = withUnsafeMutableBytes(of: &length) { fread($0.baseAddress, 1, 4, handle) }
        if read == 0 && allowEnd && feof(handle) != 0 { return nil }
        guard read == 4 else { throw truncated() }
        let count = Int(UInt32(littleEndian: length))
        var bytes = [UInt8](repeating: 0, count: count)
        let got = bytes.withUnsafeMutableBytes { fread($0.baseAddress, 1, count, handle) }
        guard got == count else { throw truncated() }
        return String(decoding: bytes, as: UTF8.self)
    }

    private func truncated() -> OutputError {
        OutputError(.write, path: path, reason: "spill file is truncated")
    }
}
