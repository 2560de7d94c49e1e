import Foundation
@testable import FruitFeatures
#if canImport(Glibc)
import Glibc
#endif

/// A folder tree mixing good photos with every kind of hostile input, built in a scratch folder at
/// test time (permissions, symbolic links, FIFOs and raw file names cannot live in git), with what
/// `extract` must do with each entry.
///
/// Seeds: Fixtures/images (photos), Fixtures/resize (odd but valid JPEGs), Fixtures/resize/bad (bad
/// inputs whose expected outcome Pillow recorded in Fixtures/golden/pillow/index.json) and
/// Fixtures/hostile (JPEG kinds made by Scripts/make_hostile_corpus.py). Damaged variants are made
/// here with a seeded generator.
struct HostileCorpus {
    /// What `extract` must do with an entry.
    enum Expected: Equatable {
        /// Features, under this label.
        case features(label: String)
        /// A line in errors.csv whose reason passes the check (named for messages).
        case failure(ReasonCheck)
        /// Features or a failure line (a randomly damaged JPEG may still decode), but exactly one.
        case either
        /// Not listed at all: not a regular file matching the pattern, or hidden.
        case unlisted
    }

    /// A check on an errors.csv reason.
    struct ReasonCheck: Equatable, CustomStringConvertible {
        var description: String
        var exact: String?
        var prefixes: [String] = []

        func accepts(_ reason: String) -> Bool {
            if let exact { return reason == exact }
            return prefixes.contains { reason.hasPrefix($0) }
        }

        static func exactly(_ text: String) -> ReasonCheck { ReasonCheck(description: "'\(text)'", exact: text) }
        static func starting(_ prefixes: String...) -> ReasonCheck {
            ReasonCheck(description: "starting " + prefixes.map { "'\($0)'" }.joined(separator: " or "), prefixes: prefixes)
        }
    }

    /// One entry of the tree.
    struct Entry {
        /// The path as the outputs carry it (root as given + names; U+FFFD for bytes that are not UTF-8).
        var path: String
        /// The real path, byte for byte.
        var fileSystemPath: [UInt8]
        var expected: Expected
    }

    let root: String
    private(set) var entries: [Entry] = []
    /// Whether files and folders with no permissions are unreadable to the process that runs `extract`.
    let permissionsEnforced: Bool

    /// Builds the tree at `root` (which must not exist).
    init(at root: String, permissionsEnforced: Bool) throws {
        self.root = root
        self.permissionsEnforced = permissionsEnforced
        let fixtures = FixturePaths.root.path
        var random = SeededGenerator(seed: 0x4F57_11E)

        // Good photos.
        for label in ["Apple", "Banana", "Lemon"] {
            for index in 0..<3 {
                try copy("\(fixtures)/images/\(label)/\(index)_100.jpg", to: "\(label)/\(index)_100.jpg", .features(label: label))
            }
        }
        // Odd but valid JPEGs: progressive, grayscale, CMYK, YCCK, EXIF-rotated, 4:2:2, tiny, restart markers.
        for name in try FileManager.default.contentsOfDirectory(atPath: "\(fixtures)/resize").sorted() where name.hasSuffix(".jpg") {
            try copy("\(fixtures)/resize/\(name)", to: "Odd/\(name)", .features(label: "Odd"))
        }
        for name in try FileManager.default.contentsOfDirectory(atPath: "\(fixtures)/hostile").sorted() where name.hasSuffix(".jpg") {
            try copy("\(fixtures)/hostile/\(name)", to: "Odd/\(name)", .features(label: "Odd"))
        }

        // Bad inputs with the outcome Pillow recorded for them.
        for bad in try PillowGolden.load().bad {
            let name = (bad.file as NSString).lastPathComponent
            try copy("\(fixtures)/\(bad.file)", to: "Broken/\(name)", .failure(Self.check(forGoldenExpectation: bad.expect)))
        }
        // Damaged copies made here: truncations, a JPEG signature followed by noise, plain noise.
        let photo = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(fixtures)/resize/progressive_200x150.jpg")))
        let truncated = Self.check(forGoldenExpectation: "truncated")
        for fraction in [0.1, 0.5, 0.9] {
            try write(Array(photo.prefix(Int(Double(photo.count) * fraction))), to: "Broken/cut_\(Int(fraction * 100)).jpg", .failure(truncated))
        }
        try write(Array(photo.dropLast(2)), to: "Broken/no_end_marker.jpg", .either)
        try write([0xFF, 0xD8, 0xFF] + (0..<4000).map { _ in UInt8.random(in: 0...255, using: &random) },
                  to: "Broken/signature_then_noise.jpg",
                  .failure(.starting("corrupt JPEG: ", "truncated JPEG", "unsupported JPEG: ")))
        try write((0..<3000).map { _ in UInt8.random(in: 0...0xFE, using: &random) }, to: "Broken/noise.jpg",
                  .failure(.exactly(ImageError(path: "", reason: .notJPEG(.unknown)).reasonDescription)))
        try write([UInt8](repeating: 0, count: 4096), to: "Broken/zeros.jpg",
                  .failure(.exactly(ImageError(path: "", reason: .notJPEG(.unknown)).reasonDescription)))
        // Bit flips anywhere after the signature: many still decode (libjpeg conceals damage), some fail.
        let apple = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(fixtures)/images/Apple/0_100.jpg")))
        for index in 0..<12 {
            var bytes = apple
            for _ in 0...(index % 6) {
                let position = Int.random(in: 3..<bytes.count, using: &random)
                bytes[position] ^= UInt8(1) << UInt8.random(in: 0...7, using: &random)
            }
            try write(bytes, to: "Flipped/flip_\(index).jpg", .either)
        }

        // Links.
        try makeFolder("Links")
        try link("../Apple/0_100.jpg", at: "Links/good.jpg", .features(label: "Links"))
        try link("nowhere.jpg", at: "Links/dangling.jpg", .failure(.exactly("broken symbolic link")))
        try link("self.jpg", at: "Links/self.jpg", .failure(.exactly("symbolic link cycle, folder already visited")))
        try link(".", at: "Links/loop", .failure(.exactly("symbolic link cycle, folder already visited")))
        try link("..", at: "Links/up", .failure(.exactly("symbolic link cycle, folder already visited")))
        try link("/dev/zero", at: "Links/zero.jpg", .unlisted)

        // Awkward names: valid UTF-8 is carried faithfully, other bytes are reported.
        let good = "\(fixtures)/images/Banana/0_100.jpg"
        for name in ["comma, here.jpg", "quote \"q\".jpg", "new\nline.jpg", "carriage\rreturn.jpg", "tab\there.jpg",
                     " leading space.jpg", "ünïcødé 🍎.jpg", "semi;colon'apostrophe.jpg", "back\\slash.jpg"] {
            try copy(good, to: "Names/\(name)", .features(label: "Names"))
        }
        try copy(good, to: "Fruit, \"odd\"\nlabel/a.jpg", .features(label: "Fruit, \"odd\"\nlabel"))
        let notUTF8 = Array("Names/latin1 caf".utf8) + [0xE9] + Array(".jpg".utf8)
        try writeRaw(try [UInt8](Data(contentsOf: URL(fileURLWithPath: good))), to: notUTF8,
                     .failure(.exactly("file name is not valid UTF-8")))
        let notUTF8Folder = Array("Names/folder ".utf8) + [0xFF, 0xFE]
        try makeRawFolder(notUTF8Folder, .failure(.exactly("file name is not valid UTF-8")))
        try writeRaw(Array(apple), to: notUTF8Folder + Array("/inside.jpg".utf8), nil)

        // Permissions.
        let denied = "Permission denied"
        try copy(good, to: "Perms/locked.jpg", permissionsEnforced ? .failure(.exactly("cannot read file: \(denied)")) : .features(label: "Perms"))
        try copy(good, to: "Perms/lockeddir/a.jpg", permissionsEnforced ? .unlisted : .features(label: "lockeddir"))
        try copy(good, to: "Perms/open.jpg", .features(label: "Perms"))
        chmod(root + "/Perms/locked.jpg", 0)
        chmod(root + "/Perms/lockeddir", 0)
        if permissionsEnforced {
            entries.append(Entry(path: root + "/Perms/lockeddir", fileSystemPath: Array((root + "/Perms/lockeddir").utf8),
                                 expected: .failure(.exactly("cannot list folder: \(denied)"))))
        }

        // Special files and names the listing skips or refuses.
        try makeFolder("Special")
        guard mkfifo(root + "/Special/fifo.jpg", 0o644) == 0 else { throw POSIXError(.EIO) }
        entries.append(Entry(path: root + "/Special/fifo.jpg", fileSystemPath: Array((root + "/Special/fifo.jpg").utf8), expected: .unlisted))
        try copy(good, to: "Special/folder.jpg/inner.jpg", .features(label: "folder.jpg"))
        try copy(good, to: "Special/.hidden.jpg", .unlisted)
        try copy(good, to: "Special/_metadata.jpg", .unlisted)
        try copy(good, to: "Special/UPPER.JPG", .unlisted)
        try copy(good, to: "Special/notes.txt", .unlisted)
        try write([], to: "Special/empty.jpg", .failure(.exactly("empty file")))
        // 300 MiB of holes: refused by size before anything is read.
        try write([], to: "Special/sparse_huge.jpg",
                  .failure(.exactly("file is \(300 << 20) bytes, larger than the 256 MiB limit")))
        truncate(root + "/Special/sparse_huge.jpg", off_t(300 << 20))
    }

    /// Maps an expectation of Fixtures/golden/pillow/index.json to a reason check.
    static func check(forGoldenExpectation expect: String) -> ReasonCheck {
        func text(_ reason: ImageError.Reason) -> String { ImageError(path: "", reason: reason).reasonDescription }
        if expect.hasPrefix("notJPEG:"), let format = ImageFormat(rawValue: String(expect.dropFirst("notJPEG:".count))) {
            return .exactly(text(.notJPEG(format)))
        }
        switch expect {
        case "emptyFile": return .exactly(text(.emptyFile))
        case "truncated": return .exactly(text(.truncated))
        case "tooLarge": return .starting("image of ")
        case "corrupt": return .starting("corrupt JPEG: ")
        case "unsupported": return .starting("unsupported JPEG: ")
        default: return .starting("(unknown golden expectation \(expect))")
        }
    }

    /// The entries whose outcome is fixed.
    var expectedFeatures: [String: String] {
        var result: [String: String] = [:]
        for entry in entries { if case .features(let label) = entry.expected { result[entry.path] = label } }
        return result
    }

    /// Puts the permissions back and removes what `extract` refused, leaving only the entries that got features.
    func removeEntries(_ paths: Set<String>) {
        chmod(root + "/Perms/locked.jpg", 0o644)
        chmod(root + "/Perms/lockeddir", 0o755)
        for entry in entries where paths.contains(entry.path) {
            var bytes = entry.fileSystemPath + [0]
            bytes.withUnsafeMutableBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { name in
                    var info = stat()
                    if lstat(name.baseAddress!, &info) == 0, info.st_mode & S_IFMT == S_IFDIR {
                        try? FileManager.default.removeItem(atPath: String(cString: name.baseAddress!))
                        // A folder whose name is not UTF-8: remove its contents by hand.
                        if let directory = opendir(name.baseAddress!) {
                            while let item = readdir(directory) {
                                let child = withUnsafeBytes(of: item.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
                                if child == [46] || child == [46, 46] { continue }
                                var full = entry.fileSystemPath + [47] + child + [0]
                                full.withUnsafeMutableBufferPointer { path in
                                    path.withMemoryRebound(to: CChar.self) { _ = unlink($0.baseAddress!) }
                                }
                            }
                            closedir(directory)
                        }
                        rmdir(name.baseAddress!)
                    } else {
                        unlink(name.baseAddress!)
                    }
                }
            }
        }
    }

    // MARK: Building

    private mutating func makeFolder(_ relative: String) throws {
        try FileManager.default.createDirectory(atPath: root + "/" + relative, withIntermediateDirectories: true)
    }

    private mutating func copy(_ source: String, to relative: String, _ expected: Expected) throws {
        try write(try [UInt8](Data(contentsOf: URL(fileURLWithPath: source))), to: relative, expected)
    }

    private mutating func write(_ bytes: [UInt8], to relative: String, _ expected: Expected) throws {
        try makeFolder((relative as NSString).deletingLastPathComponent)
        let path = root + "/" + relative
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { throw POSIXError(.EIO) }
        entries.append(Entry(path: path, fileSystemPath: Array(path.utf8), expected: expected))
    }

    private mutating func link(_ target: String, at relative: String, _ expected: Expected) throws {
        let path = root + "/" + relative
        guard symlink(target, path) == 0 else { throw POSIXError(.EIO) }
        entries.append(Entry(path: path, fileSystemPath: Array(path.utf8), expected: expected))
    }

    /// A file at a path given as raw bytes (possibly not UTF-8); `expected` nil when it is never listed.
    private mutating func writeRaw(_ bytes: [UInt8], to relative: [UInt8], _ expected: Expected?) throws {
        let path = Array(root.utf8) + [47] + relative
        var cPath = path + [0]
        let descriptor = cPath.withUnsafeMutableBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_WRONLY | O_CREAT | O_TRUNC, 0o644) }
        }
        guard descriptor >= 0 else { throw POSIXError(.EIO) }
        defer { close(descriptor) }
        guard bytes.withUnsafeBytes({ Glibc.write(descriptor, $0.baseAddress, $0.count) }) == bytes.count else {
            throw POSIXError(.EIO)
        }
        if let expected {
            entries.append(Entry(path: String(decoding: path, as: UTF8.self), fileSystemPath: path, expected: expected))
        }
    }

    private mutating func makeRawFolder(_ relative: [UInt8], _ expected: Expected) throws {
        let path = Array(root.utf8) + [47] + relative
        var cPath = path + [0]
        let made = cPath.withUnsafeMutableBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { mkdir($0.baseAddress!, 0o755) }
        }
        guard made == 0 else { throw POSIXError(.EIO) }
        entries.append(Entry(path: String(decoding: path, as: UTF8.self), fileSystemPath: path, expected: expected))
    }
}
