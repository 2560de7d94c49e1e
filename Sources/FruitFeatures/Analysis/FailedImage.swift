import Foundation

/// An image the extract command could not use, as listed in `errors.csv`.
public struct FailedImage: Sendable, Equatable, Codable {
    /// The image path.
    public var path: String
    /// Why it could not be used.
    public var reason: String

    /// Creates a record.
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    /// Reads a CSV file with a header `path,reason` (RFC 4180 quoting).
    ///
    /// - Throws: ``AnalysisError`` (``AnalysisError/Kind/unreadable`` or ``AnalysisError/Kind/malformed``).
    public static func records(contentsOfCSV url: URL) throws(AnalysisError) -> [FailedImage] {
        let path = url.path
        var records: [FailedImage] = []
        try scanCSVFile(atPath: path) { (header) throws(AnalysisError) in
            guard header.count >= 2, header[0] == "path", header[1] == "reason" else {
                throw AnalysisError(.malformed, path: path,
                                    reason: "the header must start with path,reason (found \(header.joined(separator: ",")))")
            }
        } record: { scanner, fields in
            records.append(FailedImage(path: scanner.string(fields[0]), reason: scanner.string(fields[1])))
        }
        return records
    }
}
