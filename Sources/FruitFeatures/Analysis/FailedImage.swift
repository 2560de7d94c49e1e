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
        var bytes = try readFileContents(atPath: path, terminatorCount: 1)
        let byteCount = bytes.count - 1
        return try bytes.withUnsafeMutableBufferPointer { (buffer) throws(AnalysisError) -> [FailedImage] in
            guard let base = buffer.baseAddress else { return [] }
            var scanner = CSVScanner(bytes: base, count: byteCount)
            var fields: [CSVField] = []
            var records: [FailedImage] = []
            do {
                guard try scanner.nextRecord(into: &fields) else { return [] }
                let header = fields.map { scanner.string($0) }
                guard header.count >= 2, header[0] == "path", header[1] == "reason" else {
                    throw AnalysisError(.malformed, path: path,
                                        reason: "the header must start with path,reason (found \(header.joined(separator: ",")))")
                }
                while try scanner.nextRecord(into: &fields) {
                    guard fields.count == header.count else {
                        throw AnalysisError(.malformed, path: path,
                                            reason: "line \(scanner.recordLine) has \(fields.count) fields, expected \(header.count)")
                    }
                    records.append(FailedImage(path: scanner.string(fields[0]), reason: scanner.string(fields[1])))
                }
            } catch let error as CSVSyntaxError {
                throw AnalysisError(.malformed, path: path, reason: "line \(error.line): \(error.reason)")
            } catch let error as AnalysisError {
                throw error
            } catch {
                throw AnalysisError(.malformed, path: path, reason: "\(error)")
            }
            return records
        }
    }
}
