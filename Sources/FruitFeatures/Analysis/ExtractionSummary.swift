import Foundation

/// A JSON value of `summary.json`, kept whole so that the report can show every field the extract command wrote.
public enum SummaryValue: Sendable, Equatable, Decodable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number.
    case number(Double)
    /// A string.
    case string(String)
    /// An array.
    case array([SummaryValue])
    /// An object.
    case object([String: SummaryValue])

    /// Decodes any JSON value.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([SummaryValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: SummaryValue].self))
        }
    }

    /// The string, when this is one.
    public var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The number, when this is one.
    public var number: Double? {
        if case .number(let value) = self { return value }
        return nil
    }

    /// The numbers, when this is an array of numbers only.
    public var numbers: [Double]? {
        guard case .array(let values) = self else { return nil }
        let numbers = values.compactMap(\.number)
        return numbers.count == values.count ? numbers : nil
    }

    /// A short display form: numbers without needless decimals, long arrays abbreviated.
    public var displayText: String {
        switch self {
        case .null: return "—"
        case .bool(let value): return value ? "yes" : "no"
        case .number(let value): return Self.format(value)
        case .string(let value): return value
        case .array(let values):
            let shown = values.prefix(6).map(\.displayText).joined(separator: ", ")
            return values.count > 6 ? "[\(values.count) values: \(shown), …]" : "[\(shown)]"
        case .object(let fields):
            return "{" + fields.keys.sorted().map { "\($0): \(fields[$0]?.displayText ?? "")" }.joined(separator: ", ") + "}"
        }
    }

    /// A number as people read it: integers without a fraction, others with at most 4 significant decimals.
    static func format(_ value: Double) -> String {
        if value.rounded() == value && abs(value) < 1e15 { return String(Int64(value)) }
        if abs(value) >= 100 { return String(format: "%.1f", value) }
        return String(format: "%.4g", value)
    }
}

/// What `summary.json` of an extract run says: counts, speed, stage times, weights, settings.
///
/// The whole JSON object is kept (``root``); accessors find the fields other commands need under the names the
/// extract command writes, with a few alternatives so that older or hand-written summaries still work.
public struct ExtractionSummary: Sendable, Equatable {
    /// The top-level JSON object.
    public let root: [String: SummaryValue]

    /// Wraps a decoded JSON object.
    public init(root: [String: SummaryValue]) {
        self.root = root
    }

    /// Reads `summary.json`.
    ///
    /// - Throws: ``AnalysisError`` (``AnalysisError/Kind/unreadable`` or ``AnalysisError/Kind/malformed``).
    public init(contentsOf url: URL) throws(AnalysisError) {
        let bytes = try readFileContents(atPath: url.path)
        do {
            root = try JSONDecoder().decode([String: SummaryValue].self, from: Data(bytes))
        } catch {
            throw AnalysisError(.malformed, path: url.path, reason: "not a JSON object: \(error)")
        }
    }

    /// The value at a dotted key path such as `"weights.sha256"`.
    public func value(at keyPath: String) -> SummaryValue? {
        var current: SummaryValue = .object(root)
        for key in keyPath.split(separator: ".", omittingEmptySubsequences: false) {
            guard case .object(let fields) = current, let next = fields[String(key)] else { return nil }
            current = next
        }
        return current
    }

    /// The first of `keyPaths` that holds a string.
    private func firstString(_ keyPaths: [String]) -> String? {
        keyPaths.lazy.compactMap { value(at: $0)?.string }.first
    }

    /// The weights file the features were extracted with.
    public var weightsPath: String? {
        firstString(["weights.path", "weights.file", "weights", "weights_path", "weights_file"])
    }

    /// The SHA-256 (hex) of that weights file.
    public var weightsSHA256: String? {
        firstString(["weights.sha256", "weights_sha256", "weights.sha_256"])?.lowercased()
    }

    /// The extraction speed in images per second.
    public var imagesPerSecond: Double? {
        ["images_per_second", "throughput.images_per_second", "timing.images_per_second", "imagesPerSecond"]
            .lazy.compactMap { value(at: $0)?.number }.first
    }

    /// Each kept component's share of the total variance, when the summary lists them.
    public var explainedVarianceRatios: [Double]? {
        ["explained_variance.per_component", "explained_variance_ratio", "pca.explained_variance_ratio",
         "explained_variance.ratios"].lazy.compactMap { value(at: $0)?.numbers }.first
    }

    /// Every leaf field as (dotted key path, display text), sorted by key path.
    public var flattenedFields: [(key: String, value: String)] {
        var fields: [(String, String)] = []
        func visit(_ value: SummaryValue, _ path: String) {
            if case .object(let children) = value, !children.isEmpty {
                for key in children.keys.sorted() {
                    if let child = children[key] { visit(child, path.isEmpty ? key : "\(path).\(key)") }
                }
            } else {
                fields.append((path, value.displayText))
            }
        }
        visit(.object(root), "")
        return fields.map { (key: $0.0, value: $0.1) }
    }
}
