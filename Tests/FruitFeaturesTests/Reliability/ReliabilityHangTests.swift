import Foundation
import Testing
@testable import FruitFeatures
#if canImport(Glibc)
import Glibc
#endif

/// Patterns and listings that used to hang the tool (Docs/reliability.md, "Hangs"). Each child process
/// runs under a deadline: a hang fails the test instead of stalling the suite.
@Suite struct ReliabilityHangTests {
    /// The matcher the automaton replaced, kept as the reference: braces expanded into alternatives, then
    /// each alternative matched by trying every way a `*` could stop (exponential on some patterns; the
    /// differential test keeps to small ones).
    enum ReferenceGlob {
        static func matches(_ pattern: String, _ name: String) -> Bool {
            expand(Array(pattern)).contains { match(ArraySlice($0), ArraySlice(Array(name))) }
        }

        /// `{a,b}` groups expanded (nested allowed); `\` escapes and `[…]` sets kept as written.
        static func expand(_ characters: [Character]) -> [[Character]] {
            var index = 0
            var inBracket = false
            while index < characters.count {
                let character = characters[index]
                if character == "\\" { index += 2; continue }
                if inBracket {
                    if character == "]" { inBracket = false }
                } else if character == "[" {
                    inBracket = true
                    // A set's first character may be `]` (after an optional negation).
                    if index + 1 < characters.count, "!^".contains(characters[index + 1]) { index += 1 }
                    index += 1
                } else if character == "{" {
                    var depth = 0
                    var commas: [Int] = []
                    var inner = index + 1
                    var close = -1
                    while inner < characters.count {
                        let c = characters[inner]
                        if c == "\\" { inner += 2; continue }
                        if c == "{" { depth += 1 } else if c == "}" {
                            if depth == 0 { close = inner; break }
                            depth -= 1
                        } else if c == "," && depth == 0 { commas.append(inner) }
                        inner += 1
                    }
                    let bounds = [index] + commas + [close]
                    return zip(bounds, bounds.dropFirst()).flatMap { start, end in
                        expand(Array(characters[..<index]) + Array(characters[(start + 1)..<end]) + Array(characters[(close + 1)...]))
                    }
                }
                index += 1
            }
            return [characters]
        }

        static func match(_ pattern: ArraySlice<Character>, _ name: ArraySlice<Character>) -> Bool {
            guard let first = pattern.first else { return name.isEmpty }
            switch first {
            case "*":
                var rest = name
                while true {
                    if match(pattern.dropFirst(), rest) { return true }
                    guard !rest.isEmpty else { return false }
                    rest = rest.dropFirst()
                }
            case "?":
                return !name.isEmpty && match(pattern.dropFirst(), name.dropFirst())
            case "\\":
                return name.first == pattern.dropFirst().first && match(pattern.dropFirst(2), name.dropFirst())
            case "[":
                var cursor = pattern.index(after: pattern.startIndex)
                var negated = false
                if cursor < pattern.endIndex, "!^".contains(pattern[cursor]) { negated = true; cursor += 1 }
                var found = false
                var firstInSet = true
                while cursor < pattern.endIndex, pattern[cursor] != "]" || firstInSet {
                    firstInSet = false
                    var low = pattern[cursor]
                    if low == "\\", cursor + 1 < pattern.endIndex { cursor += 1; low = pattern[cursor] }
                    if cursor + 2 < pattern.endIndex, pattern[cursor + 1] == "-", pattern[cursor + 2] != "]" {
                        if let c = name.first, low <= c, c <= pattern[cursor + 2] { found = true }
                        cursor += 3
                    } else {
                        if name.first == low { found = true }
                        cursor += 1
                    }
                }
                guard let _ = name.first, found != negated else { return false }
                return match(pattern[(cursor + 1)...], name.dropFirst())
            default:
                return name.first == first && match(pattern.dropFirst(), name.dropFirst())
            }
        }
    }

    @Test func theAutomatonMatchesAsTheReference() throws {
        var random = SeededGenerator(seed: 18)
        let pieces = ["a", "b", "*", "?", "[ab]", "[!a]", "[a-c]", "\\*", "{a,b}", "{a*,b}", "{,ab}", "{a,{b,ba}}", ".", "}", ","]
        let alphabet: [Character] = ["a", "b", "c", ".", "*", "}"]
        var compared = 0
        for _ in 0..<3000 {
            let pattern = (0..<Int.random(in: 0...6, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined()
            let glob = try GlobPattern(pattern)
            for _ in 0..<8 {
                let name = String((0..<Int.random(in: 0...7, using: &random)).map { _ in alphabet.randomElement(using: &random)! })
                #expect(glob.matches(name) == ReferenceGlob.matches(pattern, name), "\(pattern) against \(name)")
                compared += 1
            }
        }
        #expect(compared == 24_000)
        // The cases that blew up the old matcher answer, and correctly.
        let long = String(repeating: "a", count: 44)
        #expect(try !GlobPattern("*a*a*a*a*a*a*a*ab").matches(long))
        #expect(try GlobPattern("*a*a*a*a*a*a*a*aa").matches(long))
        #expect(try GlobPattern(String(repeating: "*a", count: 40) + "b").matches(long) == false)
        let braces = String(repeating: "{a,b}", count: 22)
        #expect(try GlobPattern(braces).matches(String(repeating: "ab", count: 11)))
        #expect(try !GlobPattern(braces).matches(String(repeating: "ab", count: 12)))
    }

    @Test func oversizedPatternsAreClearErrors() {
        #expect {
            try GlobPattern(String(repeating: "a", count: GlobPattern.maximumLength + 1))
        } throws: { error in
            (error as? DiscoveryError)?.description.contains("more than the limit of 4096") == true
        }
        #expect {
            try GlobPattern(String(repeating: "{", count: 40) + String(repeating: "}", count: 40))
        } throws: { error in
            (error as? DiscoveryError)?.description.contains("nested more than 32 deep") == true
        }
    }

    @Test func pathologicalGlobsFinishAtOnce() throws {
        let input = try Reliability.photoTree(count: 3)
        let long = input + "/Apple/" + String(repeating: "a", count: 44) + ".jpg"
        try FileManager.default.copyItem(atPath: input + "/Apple/img_0000.jpg", toPath: long)
        let scratch = try makeScratchFolder("ff-glob")
        // Twelve stars: hours for the backtracking matcher. 2^22 alternatives: gigabytes for eager expansion
        // (the long name matches it: 22 a's, then the star).
        let cases = [(String(repeating: "*a", count: 12) + "b", 0), (String(repeating: "{a,b}", count: 22) + "*.jpg", 1),
                     (String(repeating: "*a", count: 12) + "*.jpg", 1)]
        for (index, (pattern, images)) in cases.enumerated() {
            let child = try SpawnedCommand(Reliability.extractArguments(input, scratch + "/out\(index)", ["--glob", pattern]))
            let exit = child.finish(seconds: 120)
            #expect(exit.maximumResidentKiB < 1 << 20, "\(pattern): \(exit.maximumResidentKiB) KiB")
            if images == 0 {
                #expect(exit.status == 1)
                #expect(exit.standardError.contains("no images matching"), "\(exit.standardError)")
            } else {
                // One image only: the PCA cannot be fitted, but the listing and the network pass ran.
                #expect(exit.status == 1)
                #expect(exit.standardError.contains("PCA"), "\(exit.standardError)")
            }
        }
    }

    @Test func aStopDuringTheListingIsHonouredAtOnce() throws {
        // A listing that takes a while: many names, each tried against a wide alternation.
        let input = try makeScratchFolder("ff-listing") + "/photos"
        try FileManager.default.createDirectory(atPath: input + "/Apple", withIntermediateDirectories: true)
        for index in 0..<60000 {
            let path = String(format: "%@/Apple/photo_of_a_fresh_apple_%05d.jpg", input, index)
            close(open(path, O_CREAT | O_WRONLY, 0o644))
        }
        let alternatives = (0..<500).map { String(format: "zq%04d", $0) }.joined(separator: ",")
        let pattern = "*{" + alternatives + "}*.jpg"
        for (signal, status) in [(SIGTERM, Int32(143)), (SIGINT, Int32(130))] {
            let output = try makeScratchFolder("ff-listing-out") + "/out"
            let child = try SpawnedCommand(Reliability.extractArguments(input, output, ["--glob", pattern]))
            // The folder is created (and locked) just before the listing starts.
            #expect(Reliability.wait(for: child, seconds: 120) { FileManager.default.fileExists(atPath: output) })
            usleep(30_000)  // The signal handlers are in place by then; the listing takes seconds.
            child.send(signal)
            let exit = child.finish(seconds: 60)
            #expect(exit.status == status, "\(exit.standardError)")
            #expect(exit.standardError.contains("interrupted before any file was done"), "\(exit.standardError)")
            // Stopped inside the listing: no checkpoint was started.
            #expect(!Reliability.listing(output).contains(ExtractionOutput.checkpoint))
        }
    }
}
