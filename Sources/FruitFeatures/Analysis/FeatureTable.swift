import Foundation

/// Labelled feature vectors held in memory: what `features.csv` holds, ready for nearest-neighbour search.
///
/// Rows keep the order they were given in (the extract command sorts them by path). Every value is finite.
public struct FeatureTable: Sendable, Equatable {
    /// Each row's image path.
    public let paths: [String]
    /// Each row's label.
    public let labels: [String]
    /// Values per row (K, the number of PCA components).
    public let featureCount: Int
    /// The features, row after row. // values: (rowCount, featureCount)
    public let values: [Float]

    /// The number of rows.
    public var rowCount: Int { paths.count }

    /// Creates a table from its columns.
    ///
    /// - Throws: ``AnalysisError`` (``AnalysisError/Kind/invalidArgument``) when the columns' lengths disagree,
    ///   `featureCount` is below 1 or a value is NaN or infinite.
    public init(paths: [String], labels: [String], featureCount: Int, values: [Float]) throws(AnalysisError) {
        guard featureCount >= 1 else {
            throw AnalysisError(.invalidArgument, reason: "a feature table needs at least 1 feature per row, not \(featureCount)")
        }
        guard labels.count == paths.count else {
            throw AnalysisError(.invalidArgument, reason: "\(paths.count) paths but \(labels.count) labels")
        }
        let (expected, overflow) = paths.count.multipliedReportingOverflow(by: featureCount)
        guard !overflow, values.count == expected else {
            throw AnalysisError(.invalidArgument,
                                reason: "\(values.count) values for \(paths.count) rows of \(featureCount) features")
        }
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw AnalysisError(.invalidArgument,
                                reason: "row \(bad / featureCount) (\(paths[bad / featureCount])) has a non-finite feature \(bad % featureCount)")
        }
        self.paths = paths
        self.labels = labels
        self.featureCount = featureCount
        self.values = values
    }

    /// Creates a table from rows that all have `featureCount` features.
    public init(rows: [FeatureRow], featureCount: Int) throws(AnalysisError) {
        var values: [Float] = []
        values.reserveCapacity(rows.count * max(featureCount, 0))
        for (index, row) in rows.enumerated() {
            guard row.features.count == featureCount else {
                throw AnalysisError(.invalidArgument,
                                    reason: "row \(index) (\(row.path)) has \(row.features.count) features, expected \(featureCount)")
            }
            values.append(contentsOf: row.features)
        }
        try self.init(paths: rows.map(\.path), labels: rows.map(\.label), featureCount: featureCount, values: values)
    }

    /// Reads a CSV file laid out as `CSVResultWriter` writes it: a header `path,label,feature_0,…,feature_{K−1}`,
    /// then one row per image (RFC 4180 quoting, `\n` or `\r\n` line ends, decimals with a point).
    ///
    /// - Throws: ``AnalysisError`` naming the file and the line: ``AnalysisError/Kind/unreadable`` when it cannot
    ///   be read, ``AnalysisError/Kind/malformed`` for a wrong header, a row with the wrong number of fields,
    ///   a value that is not a number or is NaN or infinite.
    public init(contentsOfCSV url: URL) throws(AnalysisError) {
        let path = url.path
        func malformed(_ reason: String) -> AnalysisError { AnalysisError(.malformed, path: path, reason: reason) }
        var featureCount = 0
        var paths: [String] = []
        var labels: [String] = []
        var values: [Float] = []
        let found = try withCNumericLocale { () throws(AnalysisError) -> Bool in
            try scanCSVFile(atPath: path) { (header) throws(AnalysisError) in
                guard header.count >= 3, header[0] == "path", header[1] == "label" else {
                    throw malformed("the header must start with path,label,feature_0 (found \(header.prefix(3).joined(separator: ",")))")
                }
                for (index, name) in header.dropFirst(2).enumerated() where name != "feature_\(index)" {
                    throw malformed("header column \(index + 3) is \"\(name)\", expected \"feature_\(index)\"")
                }
                featureCount = header.count - 2
            } record: { (scanner, fields) throws(AnalysisError) in
                paths.append(scanner.string(fields[0]))
                labels.append(scanner.string(fields[1]))
                for column in 0..<featureCount {
                    let field = fields[column + 2]
                    guard let value = scanner.float(field), value.isFinite else {
                        throw malformed("line \(scanner.recordLine): feature_\(column) is \"\(scanner.string(field))\", not a finite number")
                    }
                    values.append(value)
                }
            }
        }
        guard found else { throw malformed("empty file: expected a header path,label,feature_0,…") }
        do {
            try self.init(paths: paths, labels: labels, featureCount: featureCount, values: values)
        } catch {
            throw malformed(error.reason)
        }
    }

    /// The features of row `row`. // (featureCount)
    public func features(ofRow row: Int) -> ArraySlice<Float> {
        values[(row * featureCount)..<((row + 1) * featureCount)]
    }

    /// The rows as ``FeatureRow`` values.
    public var rows: [FeatureRow] {
        (0..<rowCount).map { FeatureRow(path: paths[$0], label: labels[$0], features: Array(features(ofRow: $0))) }
    }

    /// The distinct labels, sorted by Unicode code points (as NumPy and scikit-learn sort them).
    public var distinctLabels: [String] {
        Set(labels).sorted(by: Self.labelOrder)
    }

    /// How many rows each label has, in ``distinctLabels`` order.
    public var labelCounts: [(label: String, count: Int)] {
        var counts: [String: Int] = [:]
        for label in labels { counts[label, default: 0] += 1 }
        return counts.keys.sorted(by: Self.labelOrder).map { ($0, counts[$0] ?? 0) }
    }

    /// A table of some rows, in the order given; the indices must be valid rows.
    func subset(_ rows: [Int]) -> FeatureTable {
        var values: [Float] = []
        values.reserveCapacity(rows.count * featureCount)
        for row in rows { values.append(contentsOf: features(ofRow: row)) }
        return FeatureTable(unchecked: rows.map { paths[$0] }, rows.map { labels[$0] }, featureCount, values)
    }

    private init(unchecked paths: [String], _ labels: [String], _ featureCount: Int, _ values: [Float]) {
        self.paths = paths
        self.labels = labels
        self.featureCount = featureCount
        self.values = values
    }

    /// Label order: by Unicode scalar values, so that the order is the same as Python's `sorted` and NumPy's.
    static func labelOrder(_ a: String, _ b: String) -> Bool {
        a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
    }
}
