/// A file-name pattern such as `*.jpg` or `*.{jpg,jpeg}`, matched as Spark's `pathGlobFilter` does.
///
/// Supports `*` (any run of characters), `?` (one character), `[abc]`, `[a-z]`, `[!abc]` / `[^abc]`,
/// `{a,b}` alternatives (nested allowed) and `\` escapes. Matching is case-sensitive and applies to the
/// file name only.
///
/// The pattern is compiled into a small automaton and a name is matched by following every state at
/// once, one character at a time: time is proportional to the name's length times the pattern's,
/// whatever the pattern. (Trying each way a `*` could stop, one after another, takes exponential time
/// on patterns such as `*a*a*a*a*a*a*a*ab`; expanding `{a,b}{a,b}…` into its alternatives takes
/// exponential memory.)
public struct GlobPattern: Sendable, Hashable, CustomStringConvertible {
    /// The pattern as written.
    public let pattern: String
    private let program: [Instruction]

    /// The longest pattern accepted, in characters.
    public static let maximumLength = 4096
    /// How deeply `{…}` groups may nest.
    public static let maximumBraceDepth = 32

    /// One character test of a pattern.
    private enum Token: Sendable, Hashable {
        case literal(Character)
        case anyOne
        case set(ranges: [ClosedRange<Character>], negated: Bool)

        func accepts(_ character: Character) -> Bool {
            switch self {
            case .literal(let expected): return character == expected
            case .anyOne: return true
            case .set(let ranges, let negated): return ranges.contains { $0.contains(character) } != negated
            }
        }
    }

    /// One state of the automaton; a state's successor is the next instruction unless it says otherwise.
    private enum Instruction: Sendable, Hashable {
        /// Consumes one character the token accepts.
        case character(Token)
        /// `*`: consumes any character and stays, or moves on without consuming.
        case anyRun
        /// Moves on, without consuming, to every listed instruction.
        case split([Int])
        /// Moves on, without consuming, to the listed instruction.
        case jump(Int)
        /// The whole pattern matched.
        case accept
    }

    /// A parsed pattern: a sequence of tokens, runs and groups of alternatives.
    private indirect enum Element {
        case token(Token)
        case anyRun
        case alternatives([[Element]])
    }

    /// Parses a pattern.
    /// - Throws: ``DiscoveryError`` when a bracket or brace is not closed, a range is reversed, the
    ///   pattern ends in `\`, or the pattern is longer than ``maximumLength`` or nests braces deeper than
    ///   ``maximumBraceDepth``.
    public init(_ pattern: String) throws(DiscoveryError) {
        self.pattern = pattern
        let characters = Array(pattern)
        guard characters.count <= Self.maximumLength else {
            throw DiscoveryError(path: pattern, reason: .invalidPattern(
                "the pattern has \(characters.count) characters, more than the limit of \(Self.maximumLength)"))
        }
        var parser = Parser(characters: characters, pattern: pattern)
        let elements = try parser.sequence(depth: 0)
        var program: [Instruction] = []
        Self.compile(elements, into: &program)
        program.append(.accept)
        self.program = program
    }

    /// The default pattern of the reference notebook.
    public static let jpeg = GlobPattern(
        verbatim: "*.jpg",
        program: [.anyRun, .character(.literal(".")), .character(.literal("j")), .character(.literal("p")),
                  .character(.literal("g")), .accept])

    private init(verbatim: String, program: [Instruction]) {
        pattern = verbatim
        self.program = program
    }

    public var description: String { pattern }

    /// Tells whether a file name matches.
    public func matches(_ name: String) -> Bool {
        var current = StateSet(count: program.count)
        var next = StateSet(count: program.count)
        addClosure(of: 0, to: &current)
        for character in name {
            next.removeAll()
            for state in current.members {
                switch program[state] {
                case .character(let token):
                    if token.accepts(character) { addClosure(of: state + 1, to: &next) }
                case .anyRun:
                    addClosure(of: state, to: &next)
                case .split, .jump, .accept:
                    break  // Moves without consuming were followed when the state was added.
                }
            }
            if next.members.isEmpty { return false }
            swap(&current, &next)
        }
        return current.members.contains { program[$0] == .accept }
    }

    /// The states reached at one point of the name: membership flags plus the members in order of arrival.
    private struct StateSet {
        var isMember: [Bool]
        var members: [Int] = []

        init(count: Int) { isMember = [Bool](repeating: false, count: count) }

        mutating func removeAll() {
            for state in members { isMember[state] = false }
            members.removeAll(keepingCapacity: true)
        }
    }

    /// Adds `state` and every state reachable from it without consuming a character.
    private func addClosure(of state: Int, to set: inout StateSet) {
        var pending = [state]
        while let state = pending.popLast() {
            guard !set.isMember[state] else { continue }
            set.isMember[state] = true
            set.members.append(state)
            switch program[state] {
            case .split(let targets): pending.append(contentsOf: targets.reversed())
            case .jump(let target): pending.append(target)
            case .anyRun: pending.append(state + 1)
            case .character, .accept: break
            }
        }
    }

    /// Appends the instructions of `elements`; control then falls through to what follows.
    private static func compile(_ elements: [Element], into program: inout [Instruction]) {
        for element in elements {
            switch element {
            case .token(let token):
                program.append(.character(token))
            case .anyRun:
                if program.last != .anyRun { program.append(.anyRun) }
            case .alternatives(let options):
                let split = program.count
                program.append(.split([]))
                var starts: [Int] = []
                var exits: [Int] = []
                for option in options {
                    starts.append(program.count)
                    compile(option, into: &program)
                    exits.append(program.count)
                    program.append(.jump(-1))
                }
                program[split] = .split(starts)
                for exit in exits { program[exit] = .jump(program.count) }
            }
        }
    }

    /// A recursive-descent reader of the pattern's characters.
    private struct Parser {
        let characters: [Character]
        let pattern: String
        var index = 0

        init(characters: [Character], pattern: String) {
            self.characters = characters
            self.pattern = pattern
        }

        func failure(_ reason: String) -> DiscoveryError {
            DiscoveryError(path: pattern, reason: .invalidPattern(reason))
        }

        /// Reads elements up to the end, or (inside braces) up to a top-level `,` or `}`, which it leaves unread.
        mutating func sequence(depth: Int) throws(DiscoveryError) -> [Element] {
            var elements: [Element] = []
            while index < characters.count {
                let character = characters[index]
                if depth > 0 && (character == "," || character == "}") { break }
                index += 1
                switch character {
                case "\\":
                    guard index < characters.count else { throw failure("'\\' ends the pattern") }
                    elements.append(.token(.literal(characters[index])))
                    index += 1
                case "*":
                    elements.append(.anyRun)
                case "?":
                    elements.append(.token(.anyOne))
                case "[":
                    elements.append(.token(try set()))
                case "{":
                    guard depth < GlobPattern.maximumBraceDepth else {
                        throw failure("'{' groups are nested more than \(GlobPattern.maximumBraceDepth) deep")
                    }
                    var options: [[Element]] = []
                    while true {
                        options.append(try sequence(depth: depth + 1))
                        guard index < characters.count else { throw failure("'{' is not closed") }
                        index += 1
                        if characters[index - 1] == "}" { break }
                    }
                    elements.append(.alternatives(options))
                default:
                    elements.append(.token(.literal(character)))
                }
            }
            return elements
        }

        /// Reads a `[…]` set; the `[` was read.
        mutating func set() throws(DiscoveryError) -> Token {
            var cursor = index
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
                    guard low <= high else { throw failure("range \(low)-\(high) is reversed") }
                    ranges.append(low...high)
                    cursor += 3
                } else {
                    ranges.append(low...low)
                    cursor += 1
                }
            }
            guard cursor < characters.count else { throw failure("'[' is not closed") }
            index = cursor + 1
            return .set(ranges: ranges, negated: negated)
        }
    }
}
