/// A file-name pattern such as `*.jpg` or `*.{jpg,jpeg}`, matched as Spark's `pathGlobFilter` does.
///
/// Supports `*` (any run of characters), `?` (one character), `[abc]`, `[a-z]`, `[!abc]` / `[^abc]`,
/// `{a,b}` alternatives and `\` escapes. Matching is case-sensitive and applies to the file name only.
public struct GlobPattern: Sendable, Hashable, CustomStringConvertible {
    /// The pattern as written.
    public let pattern: String
    private let alternatives: [[Token]]

    private enum Token: Sendable, Hashable {
        case literal(Character)
        case anyOne
        case anyRun
        case set(ranges: [ClosedRange<Character>], negated: Bool)
    }

    /// Parses a pattern.
    /// - Throws: ``DiscoveryError`` when a bracket or brace is not closed.
    public init(_ pattern: String) throws(DiscoveryError) {
        self.pattern = pattern
        var expanded: [String] = []
        try GlobPattern.expandBraces(Array(pattern), pattern: pattern, into: &expanded)
        var alternatives: [[Token]] = []
        for alternative in expanded {
            alternatives.append(try GlobPattern.tokenize(Array(alternative), pattern: pattern))
        }
        self.alternatives = alternatives
    }

    /// The default pattern of the reference notebook.
    public static let jpeg = GlobPattern(
        verbatim: "*.jpg", tokens: [[.anyRun, .literal("."), .literal("j"), .literal("p"), .literal("g")]])

    private init(verbatim: String, tokens: [[Token]]) {
        pattern = verbatim
        alternatives = tokens
    }

    public var description: String { pattern }

    /// Tells whether a file name matches.
    public func matches(_ name: String) -> Bool {
        let characters = Array(name)
        return alternatives.contains { GlobPattern.match(ArraySlice($0), ArraySlice(characters)) }
    }

    private static func match(_ tokens: ArraySlice<Token>, _ name: ArraySlice<Character>) -> Bool {
        var tokens = tokens
        var name = name
        while let token = tokens.first {
            switch token {
            case .anyRun:
                let rest = tokens.dropFirst()
                if rest.isEmpty { return true }
                var suffix = name
                while true {
                    if match(rest, suffix) { return true }
                    if suffix.isEmpty { return false }
                    suffix = suffix.dropFirst()
                }
            case .anyOne:
                guard !name.isEmpty else { return false }
            case .literal(let character):
                guard name.first == character else { return false }
            case .set(let ranges, let negated):
                guard let character = name.first else { return false }
                if ranges.contains(where: { $0.contains(character) }) == negated { return false }
            }
            tokens = tokens.dropFirst()
            name = name.dropFirst()
        }
        return name.isEmpty
    }

    /// Expands `{a,b}` groups (nested allowed) into plain alternatives.
    private static func expandBraces(_ characters: [Character], pattern: String, into result: inout [String]) throws(DiscoveryError) {
        var index = 0
        var escaped = false
        var inBracket = false
        while index < characters.count {
            let character = characters[index]
            if escaped {
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if inBracket {
                if character == "]" { inBracket = false }
            } else if character == "[" {
                inBracket = true
            } else if character == "{" {
                // Find the matching close brace and the top-level commas.
                var depth = 0
                var commas: [Int] = []
                var close: Int?
                var inner = index + 1
                var innerEscaped = false
                while inner < characters.count {
                    let c = characters[inner]
                    if innerEscaped { innerEscaped = false }
                    else if c == "\\" { innerEscaped = true }
                    else if c == "{" { depth += 1 }
                    else if c == "}" {
                        if depth == 0 { close = inner; break }
                        depth -= 1
                    } else if c == "," && depth == 0 { commas.append(inner) }
                    inner += 1
                }
                guard let close else {
                    throw DiscoveryError(path: pattern, reason: .invalidPattern("'{' is not closed"))
                }
                let prefix = characters[..<index]
                let suffix = characters[(close + 1)...]
                let bounds = [index] + commas + [close]
                for (start, end) in zip(bounds, bounds.dropFirst()) {
                    let option = characters[(start + 1)..<end]
                    try expandBraces(Array(prefix + option + suffix), pattern: pattern, into: &result)
                }
                return
            }
            index += 1
        }
        result.append(String(characters))
    }

    private static func tokenize(_ characters: [Character], pattern: String) throws(DiscoveryError) -> [Token] {
        var tokens: [Token] = []
        var index = 0
        while index < characters.count {
            let character = characters[index]
            switch character {
            case "\\":
                index += 1
                guard index < characters.count else {
                    throw DiscoveryError(path: pattern, reason: .invalidPattern("'\\' ends the pattern"))
                }
                tokens.append(.literal(characters[index]))
            case "*":
                if tokens.last != .anyRun { tokens.append(.anyRun) }
            case "?":
                tokens.append(.anyOne)
            case "[":
                var cursor = index + 1
                var negated = false
                if cursor < characters.count, characters[cursor] == "!" || characters[cursor] == "^" {
                    negated = true
                    cursor += 1
                }
                var ranges: [ClosedRange<Character>] = []
                var first = true
                while cursor < characters.count, characters[cursor] != "]" || first {
                    first = false
                    var low = characters[cursor]
                    if low == "\\", cursor + 1 < characters.count {
                        cursor += 1
                        low = characters[cursor]
                    }
                    if cursor + 2 < characters.count, characters[cursor + 1] == "-", characters[cursor + 2] != "]" {
                        let high = characters[cursor + 2]
                        guard low <= high else {
                            throw DiscoveryError(path: pattern, reason: .invalidPattern("range \(low)-\(high) is reversed"))
                        }
                        ranges.append(low...high)
                        cursor += 3
                    } else {
                        ranges.append(low...low)
                        cursor += 1
                    }
                }
                guard cursor < characters.count else {
                    throw DiscoveryError(path: pattern, reason: .invalidPattern("'[' is not closed"))
                }
                tokens.append(.set(ranges: ranges, negated: negated))
                index = cursor
            default:
                tokens.append(.literal(character))
            }
            index += 1
        }
        return tokens
    }
}
