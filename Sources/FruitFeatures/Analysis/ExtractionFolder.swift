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

/// An output folder of the extract command, with readers for the files the analysis uses.
///
/// The analysis reads features from `features.csv` (not from the Parquet file), so the extract run must have
/// written CSV (its default `--format parquet,csv` does).
public struct ExtractionFolder: Sendable {
    /// The output folder.
    public let directory: URL

    /// Refers to an existing output folder.
    ///
    /// - Throws: ``AnalysisError/Kind/unreadable`` when `directory` is not an existing folder.
    public init(directory: URL) throws(AnalysisError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw AnalysisError(.unreadable, path: directory.path, reason: "not an existing folder")
        }
        self.directory = directory
    }

    /// `features.csv`: path, label and the K PCA features of each image.
    public var featuresCSV: URL { directory.appendingPathComponent(ExtractionOutput.featuresCSV) }
    /// `features.parquet`: the same rows in Parquet.
    public var featuresParquet: URL { directory.appendingPathComponent(ExtractionOutput.featuresParquet) }
    /// `pca.h5`: the fitted PCA model.
    public var pcaModelFile: URL { directory.appendingPathComponent(ExtractionOutput.pcaModel) }
    /// `summary.json`: counts, speed, settings and weights of the run; written last, so it marks a finished run.
    public var summaryFile: URL { directory.appendingPathComponent(ExtractionOutput.summary) }
    /// `errors.csv`: the images that could not be used.
    public var errorsCSV: URL { directory.appendingPathComponent(ExtractionOutput.errors) }
    /// `evaluation.json`: written by `fruitfeatures evaluate`.
    public var evaluationFile: URL { directory.appendingPathComponent(Evaluation.fileName) }
    /// `report.html`: written by `fruitfeatures report`.
    public var reportFile: URL { directory.appendingPathComponent(ReportPage.fileName) }

    /// Reads `features.csv`.
    ///
    /// - Throws: ``AnalysisError``; when only `features.parquet` exists, the reason says to extract with CSV.
    public func readFeatures() throws(AnalysisError) -> FeatureTable {
        guard fileExists(atPath: featuresCSV.path) else {
            let hint = fileExists(atPath: featuresParquet.path)
                ? ": only features.parquet is there; run extract with --format parquet,csv (the default) to get it"
                : ": is this the output folder of fruitfeatures extract?"
            throw AnalysisError(.unreadable, path: featuresCSV.path, reason: "no such file" + hint)
        }
        return try FeatureTable(contentsOfCSV: featuresCSV)
    }

    /// Reads `pca.h5`.
    public func readPCAModel() throws(AnalysisError) -> PCAModel {
        guard fileExists(atPath: pcaModelFile.path) else {
            throw AnalysisError(.unreadable, path: pcaModelFile.path, reason: "no such file")
        }
        do {
            return try PCAModel(contentsOf: pcaModelFile)
        } catch {
            throw AnalysisError(.malformed, path: pcaModelFile.path, reason: error.description(omitting: pcaModelFile.path))
        }
    }

    /// Reads `summary.json`; nil when the folder has none.
    public func readSummary() throws(AnalysisError) -> ExtractionSummary? {
        try readSummaryFields().map(\.summary)
    }

    /// Reads `summary.json` both as the extract command's ``ExtractionSummary`` and as plain JSON (for the report,
    /// which shows every field, including any a newer version added); nil when the folder has none.
    func readSummaryFields() throws(AnalysisError) -> (summary: ExtractionSummary, fields: [String: SummaryValue])? {
        guard fileExists(atPath: summaryFile.path) else { return nil }
        let data = Data(try readFileContents(atPath: summaryFile.path))
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            let summary = try decoder.decode(ExtractionSummary.self, from: data)
            let fields = try JSONDecoder().decode([String: SummaryValue].self, from: data)
            return (summary, fields)
        } catch {
            throw AnalysisError(.malformed, path: summaryFile.path, reason: "not the summary of a finished extraction: \(error)")
        }
    }

    /// Reads `errors.csv`; nil when the folder has none.
    public func readFailedImages() throws(AnalysisError) -> [FailedImage]? {
        guard fileExists(atPath: errorsCSV.path) else { return nil }
        return try FailedImage.records(contentsOfCSV: errorsCSV)
    }

    /// Reads `evaluation.json`; nil when the folder has none.
    public func readEvaluation() throws(AnalysisError) -> Evaluation? {
        guard fileExists(atPath: evaluationFile.path) else { return nil }
        return try Evaluation(contentsOf: evaluationFile)
    }

    /// Checks that the features are the model's projections: as many features as components.
    public static func checkConsistency(features: FeatureTable, pca: PCAModel, directory: String) throws(AnalysisError) {
        guard features.featureCount == pca.componentCount else {
            throw AnalysisError(.inconsistent, path: directory,
                                reason: "features.csv has \(features.featureCount) features but pca.h5 has \(pca.componentCount) components")
        }
    }
}
