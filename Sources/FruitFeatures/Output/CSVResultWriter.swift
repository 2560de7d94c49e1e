/// Writes feature rows as CSV, the reference notebook's text output: `path,label,feature_0,…,feature_{k−1}`.
///
/// Format, chosen so that pandas, DuckDB, Spark and Excel read it back without options:
/// - UTF-8, one header line, one line per row, lines ended by `\n` (as Spark and pandas write them);
/// - `path` and `label` quoted per RFC 4180 when they contain a comma, a double quote, CR or LF
///   (inner quotes doubled); an empty string is written as `""`, as Spark does, to tell it from a
///   missing value;
/// - features in the shortest decimal form that reads back to the same `Float` (Swift's
///   `Float.description`: `0.1`, `1.0`, `1e-05`, `3.4028235e+38`, `-0.0`), so parsing to float64 and
///   narrowing to float32 (what `pandas.read_csv(...).astype("float32")` does) recovers every bit;
/// - non-finite values, which the pipeline never produces but a caller might pass, as `NaN`, `Inf` and
///   `-Inf`: Spark's CSV defaults, also read by pandas and DuckDB.
///
/// The file is written under a temporary name and renamed into place by ``finish()`` (see ``AtomicFile``).
public final class CSVResultWriter: ResultWriter {
    /// The number of features every row must have (k after PCA, 1280 for raw MobileNetV2 features).
    public let featureCount: Int
    /// The number of rows written so far.
    public private(set) var rowCount = 0
    private let file: AtomicFile
    private var isOpen = true

    /// The file the writer produces once finished.
    public var destination: String { file.destination }

    /// Creates the temporary file beside `destination` and writes the header.
    public init(destination: String, featureCount: Int) throws(OutputError) {
        guard featureCount >= 0 else {
            throw OutputError(.invalidRow, path: destination, reason: "negative feature count \(featureCount)")
        }
        self.featureCount = featureCount
        file = try AtomicFile(destination: destination)
        var header = "path,label"
        for index in 0..<featureCount { header += ",feature_\(index)" }
        header += "\n"
        try file.write(header)
    }

    /// Appends rows. A batch containing a row with the wrong feature count is rejected whole, before any of it is written.
    public func write(_ rows: [FeatureRow]) throws(OutputError) {
        guard isOpen else { throw OutputError(.closed, path: destination, reason: "CSV writer already finished or discarded") }
        for (index, row) in rows.enumerated() where row.features.count != featureCount {
            throw OutputError(
                .invalidRow, path: destination,
                reason: "row \(rowCount + index) (\(row.path)) has \(row.features.count) features, expected \(featureCount)")
        }
        var line: [UInt8] = []
        line.reserveCapacity(64 + featureCount * 14)
        for row in rows {
            line.removeAll(keepingCapacity: true)
            Self.appendField(row.path, to: &line)
            line.append(UInt8(ascii: ","))
            Self.appendField(row.label, to: &line)
            for value in row.features {
                line.append(UInt8(ascii: ","))
                line.append(contentsOf: Self.formatted(value).utf8)
            }
            line.append(UInt8(ascii: "\n"))
            try file.write(line)
        }
        rowCount += rows.count
    }

    /// Flushes, syncs and renames the file into place.
    public func finish() throws(OutputError) {
        guard isOpen else { throw OutputError(.closed, path: destination, reason: "CSV writer already finished or discarded") }
        isOpen = false
        try file.commit()
    }

    /// Abandons the file; nothing appears at ``destination``.
    public func discard() {
        isOpen = false
        file.discard()
    }

    /// A feature value as this writer prints it: shortest round-trip decimal, or `NaN`, `Inf`, `-Inf`.
    package static func formatted(_ value: Float) -> String {
        if value.isFinite { return value.description }
        if value.isNaN { return "NaN" }
        return value < 0 ? "-Inf" : "Inf"
    }

    /// A text field as RFC 4180 wants it: quoted (inner quotes doubled) when it holds a comma, a quote, CR or LF.
    package static func quoted(_ field: String) -> String {
        var bytes: [UInt8] = []
        appendField(field, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func appendField(_ field: String, to bytes: inout [UInt8]) {
        let utf8 = field.utf8
        let needsQuotes = utf8.isEmpty || utf8.contains { byte in
            byte == UInt8(ascii: ",") || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n")
        }
        guard needsQuotes else {
            bytes.append(contentsOf: utf8)
            return
        }
        bytes.append(UInt8(ascii: "\""))
        for byte in utf8 {
            if byte == UInt8(ascii: "\"") { bytes.append(byte) }
            bytes.append(byte)
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
