import Foundation

/// Any JSON value: the report flattens `summary.json` through it to show every field the extract command wrote.
enum SummaryValue: Sendable, Equatable, Decodable {
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
    init(from decoder: any Decoder) throws {
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
    var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The number, when this is one.
    var number: Double? {
        if case .number(let value) = self { return value }
        return nil
    }

    /// The numbers, when this is an array of numbers only.
    var numbers: [Double]? {
        guard case .array(let values) = self else { return nil }
        let numbers = values.compactMap(\.number)
        return numbers.count == values.count ? numbers : nil
    }

    /// A short display form: numbers without needless decimals, long arrays abbreviated.
    var displayText: String {
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

extension SummaryValue {
    /// Every leaf of a JSON object as (dotted key path, display text), sorted by key path.
    static func flattenedFields(of root: [String: SummaryValue]) -> [(key: String, value: String)] {
        var fields: [(key: String, value: String)] = []
        func visit(_ value: SummaryValue, _ path: String) {
            if case .object(let children) = value, !children.isEmpty {
                for key in children.keys.sorted() {
                    if let child = children[key] { visit(child, path.isEmpty ? key : "\(path).\(key)") }
                }
            } else {
                fields.append((key: path, value: value.displayText))
            }
        }
        visit(.object(root), "")
        return fields
    }
}
