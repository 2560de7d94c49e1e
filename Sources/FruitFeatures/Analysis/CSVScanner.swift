import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One field of a CSV record, as a byte range of the scanned buffer.
struct CSVField {
    /// The first byte (after the opening quote for a quoted field).
    var start: Int
    /// One past the last byte (before the closing quote for a quoted field).
    var end: Int
    /// Whether the field was quoted; its doubled quotes are then still doubled in the range.
    var isQuoted: Bool
}

/// A CSV syntax error at a line.
struct CSVSyntaxError: Error {
    var line: Int
    var reason: String
}

/// Splits RFC 4180 CSV into records of fields without copying: what `CSVResultWriter`, pandas and Spark write.
///
/// Records end with `\n` or `\r\n`; fields are separated by commas; a field in double quotes may hold commas,
/// quotes (doubled) and line breaks. The buffer must be followed by one NUL byte (not counted in `count`) so that
/// `strtof` on the last field stops inside the buffer.
struct CSVScanner {
    private let bytes: UnsafePointer<UInt8>
    private let count: Int
    private var position = 0
    /// The 1-based line the scanner is at.
    private(set) var line = 1
    /// The 1-based line where the last record returned by ``nextRecord(into:)`` starts.
    private(set) var recordLine = 1

    private static let comma = UInt8(ascii: ",")
    private static let quote = UInt8(ascii: "\"")
    private static let newline = UInt8(ascii: "\n")
    private static let carriageReturn = UInt8(ascii: "\r")

    /// Scans `count` bytes at `bytes`; `bytes[count]` must be readable and 0.
    init(bytes: UnsafePointer<UInt8>, count: Int) {
        self.bytes = bytes
        self.count = count
    }

    /// Whether every record has been read.
    var isAtEnd: Bool { position >= count }

    /// Reads the next record's fields into `fields` (emptied first); false at the end of the input.
    mutating func nextRecord(into fields: inout [CSVField]) throws(CSVSyntaxError) -> Bool {
        fields.removeAll(keepingCapacity: true)
        guard position < count else { return false }
        recordLine = line
        while true {
            if bytes[position] == Self.quote {
                let start = position + 1
                var index = start
                while true {
                    guard index < count else { throw CSVSyntaxError(line: recordLine, reason: "a quoted field is not closed") }
                    let byte = bytes[index]
                    if byte == Self.quote {
                        if index + 1 < count && bytes[index + 1] == Self.quote {
                            index += 2
                            continue
                        }
                        break
                    }
                    if byte == Self.newline { line += 1 }
                    index += 1
                }
                fields.append(CSVField(start: start, end: index, isQuoted: true))
                position = index + 1
                if position + 1 < count && bytes[position] == Self.carriageReturn && bytes[position + 1] == Self.newline {
                    position += 1
                }
            } else {
                var index = position
                while index < count && bytes[index] != Self.comma && bytes[index] != Self.newline { index += 1 }
                var end = index
                if end > position && bytes[end - 1] == Self.carriageReturn && (index == count || bytes[index] == Self.newline) {
                    end -= 1
                }
                fields.append(CSVField(start: position, end: end, isQuoted: false))
                position = index
            }
            if position >= count { return true }
            switch bytes[position] {
            case Self.comma:
                position += 1
                if position >= count {
                    // A trailing comma at the very end: one more, empty field.
                    fields.append(CSVField(start: count, end: count, isQuoted: false))
                    return true
                }
            case Self.newline:
                position += 1
                line += 1
                return true
            default:
                throw CSVSyntaxError(line: line, reason: "unexpected character after the closing quote of field \(fields.count)")
            }
        }
    }

    /// The field's text, quotes undone; bytes that are not UTF-8 become U+FFFD.
    func string(_ field: CSVField) -> String {
        let raw = UnsafeBufferPointer(start: bytes + field.start, count: field.end - field.start)
        let text = String(decoding: raw, as: UTF8.self)
        guard field.isQuoted, raw.contains(Self.quote) else { return text }
        return text.replacingOccurrences(of: "\"\"", with: "\"")
    }

    /// The field as a `Float` (a decimal as `strtof` reads it in the C locale), or nil when it is not a whole number.
    ///
    /// Plain decimals take ``fastDecimal(_:count:)``; anything else (more digits, large exponents, `inf`, hex)
    /// goes to `strtof`. Call inside ``withCNumericLocale(_:)``: `strtof` follows the thread's locale.
    func float(_ field: CSVField) -> Float? {
        guard field.end > field.start else { return nil }
        if field.isQuoted {
            return Float(string(field))
        }
        if let value = Self.fastDecimal(bytes + field.start, count: field.end - field.start) { return value }
        // The byte after the field is a comma, CR, LF or the closing NUL, none of which strtof consumes.
        return (bytes + field.start).withMemoryRebound(to: CChar.self, capacity: field.end - field.start + 1) { start in
            var end: UnsafeMutablePointer<CChar>?
            let value = strtof(start, &end)
            guard let end, end == UnsafeMutablePointer(mutating: start) + (field.end - field.start) else { return nil }
            return value
        }
    }

    /// Exact powers of ten in Double: 10⁰ … 10²².
    private static let powersOfTen: [Double] = (0...22).map { exponent in
        var value = 1.0
        for _ in 0..<exponent { value *= 10 }
        return value
    }

    /// A plain decimal (`[+-]digits[.digits][(e|E)[+-]digits]`) rounded to the nearest `Float` exactly as `strtof`
    /// rounds it, when that is cheap to be sure of; nil otherwise (the caller then asks `strtof`).
    ///
    /// Clinger's fast path: with at most 2⁵³ as the digits' integer and a power of ten up to 10²², one Double
    /// multiplication or division gives the correctly rounded Double of the decimal. Rounding that to Float gives
    /// the correctly rounded Float unless the Double is exactly halfway between two Floats (every Float and every
    /// midpoint is a Double, so rounding is monotone on both sides of them); that case returns nil.
    /// About ten times faster than glibc's `strtof`, which loading a large features.csv spends most of its time in.
    static func fastDecimal(_ text: UnsafePointer<UInt8>, count: Int) -> Float? {
        var index = 0
        var negative = false
        if index < count && (text[index] == UInt8(ascii: "-") || text[index] == UInt8(ascii: "+")) {
            negative = text[index] == UInt8(ascii: "-")
            index += 1
        }
        var mantissa: UInt64 = 0
        var significant = 0
        var digits = 0
        var exponent = 0
        var seenPoint = false
        while index < count {
            let byte = text[index]
            if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                digits += 1
                if mantissa != 0 || byte != UInt8(ascii: "0") { significant += 1 }
                guard significant <= 19 else { return nil }
                mantissa = mantissa * 10 + UInt64(byte - UInt8(ascii: "0"))
                if seenPoint { exponent -= 1 }
            } else if byte == UInt8(ascii: ".") && !seenPoint {
                seenPoint = true
            } else {
                break
            }
            index += 1
        }
        guard digits > 0 else { return nil }
        if index < count && (text[index] == UInt8(ascii: "e") || text[index] == UInt8(ascii: "E")) {
            index += 1
            var exponentNegative = false
            if index < count && (text[index] == UInt8(ascii: "-") || text[index] == UInt8(ascii: "+")) {
                exponentNegative = text[index] == UInt8(ascii: "-")
                index += 1
            }
            var written = 0
            var exponentDigits = 0
            while index < count && text[index] >= UInt8(ascii: "0") && text[index] <= UInt8(ascii: "9") {
                guard written < 10_000 else { return nil }
                written = written * 10 + Int(text[index] - UInt8(ascii: "0"))
                exponentDigits += 1
                index += 1
            }
            guard exponentDigits > 0 else { return nil }
            exponent += exponentNegative ? -written : written
        }
        guard index == count else { return nil }
        if mantissa == 0 { return negative ? -0.0 : 0.0 }
        guard mantissa <= 1 << 53, exponent >= -22, exponent <= 22 else { return nil }
        let decimal = exponent >= 0
            ? Double(mantissa) * powersOfTen[exponent]
            : Double(mantissa) / powersOfTen[-exponent]
        let rounded = Float(decimal)
        let back = Double(rounded)
        if back != decimal {
            let neighbour = Double(decimal > back ? rounded.nextUp : rounded.nextDown)
            if (back + neighbour) / 2 == decimal { return nil }
        }
        return negative ? -rounded : rounded
    }
}

/// A locale whose number formats are C's (a point as decimal separator), whatever the process's locale is.
nonisolated(unsafe) private let cNumericLocale: locale_t? = {
    #if canImport(Glibc)
    return newlocale(1 << LC_NUMERIC, "C", nil)
    #else
    return newlocale(LC_NUMERIC_MASK, "C", nil)
    #endif
}()

/// Runs `body` with this thread's numeric locale set to C, so that `strtof` reads `1.5` as one and a half even in
/// a program that called `setlocale` for a language with a decimal comma.
func withCNumericLocale<Result>(_ body: () throws(AnalysisError) -> Result) throws(AnalysisError) -> Result {
    guard let cNumericLocale else { return try body() }
    let previous = uselocale(cNumericLocale)
    defer { uselocale(previous) }
    return try body()
}

/// Reads the CSV file at `path` (a run's table: `features.csv`, `errors.csv`): hands the header's fields to
/// `header` to check, then every later record — which must have as many fields as the header — to `record`.
///
/// The one loop behind every CSV the library reads; a syntax error, a record of the wrong width or an error
/// thrown by `header` or `record` stops it, named by file and line.
/// - Returns: false when the file is empty (it has no header).
@discardableResult
func scanCSVFile(
    atPath path: String,
    header: ([String]) throws(AnalysisError) -> Void,
    record: (_ scanner: CSVScanner, _ fields: [CSVField]) throws(AnalysisError) -> Void
) throws(AnalysisError) -> Bool {
    var bytes = try readFileContents(atPath: path, limit: FileSizeLimit.table, terminatorCount: 1)
    let byteCount = bytes.count - 1
    return try bytes.withUnsafeMutableBufferPointer { (buffer) throws(AnalysisError) -> Bool in
        guard let base = buffer.baseAddress else { return false }
        var scanner = CSVScanner(bytes: base, count: byteCount)
        var fields: [CSVField] = []
        do {
            guard try scanner.nextRecord(into: &fields) else { return false }
            let names = fields.map { scanner.string($0) }
            try header(names)
            while try scanner.nextRecord(into: &fields) {
                guard fields.count == names.count else {
                    throw AnalysisError(.malformed, path: path,
                                        reason: "line \(scanner.recordLine) has \(fields.count) fields, expected \(names.count)")
                }
                try record(scanner, fields)
            }
            return true
        } catch let error as CSVSyntaxError {
            throw AnalysisError(.malformed, path: path, reason: "line \(error.line): \(error.reason)")
        } catch let error as AnalysisError {
            throw error
        } catch {
            throw AnalysisError(.malformed, path: path, reason: "\(error)")
        }
    }
}
