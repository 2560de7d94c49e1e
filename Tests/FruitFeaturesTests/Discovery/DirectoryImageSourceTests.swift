import Foundation
import Testing
@testable import FruitFeatures

/// Builds a throw-away folder tree for one test.
struct ScratchTree {
    let root: String

    init() throws {
        root = TestScratch.root + "/ff-tree-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    func file(_ relative: String, _ contents: String = "x") throws {
        let path = root + "/" + relative
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try contents.write(toFile: path, atomically: false, encoding: .utf8)
    }

    func link(_ relative: String, to target: String) throws {
        try FileManager.default.createSymbolicLink(atPath: root + "/" + relative, withDestinationPath: target)
    }
}

extension DirectoryImageSource {
    var images: [ImageFile] {
        compactMap { if case .image(let image) = $0 { image } else { nil } }
    }
    var problems: [DiscoveryError] {
        compactMap { if case .problem(let problem) = $0 { problem } else { nil } }
    }
}

@Suite struct DirectoryImageSourceTests {
    @Test func labelsAreParentFoldersAndOrderIsSorted() throws {
        let tree = try ScratchTree()
        try tree.file("Banana/b2.jpg")
        try tree.file("Apple/a2.jpg")
        try tree.file("Apple/a1.jpg")
        try tree.file("Apple Red/x.jpg")
        try tree.file("Apple/deeper/Kiwi/k.jpg")
        let source = try DirectoryImageSource(root: tree.root)
        #expect(source.images == [
            ImageFile(path: tree.root + "/Apple/a1.jpg", label: "Apple"),
            ImageFile(path: tree.root + "/Apple/a2.jpg", label: "Apple"),
            ImageFile(path: tree.root + "/Apple/deeper/Kiwi/k.jpg", label: "Kiwi"),
            ImageFile(path: tree.root + "/Apple Red/x.jpg", label: "Apple Red"),
            ImageFile(path: tree.root + "/Banana/b2.jpg", label: "Banana"),
        ])
        #expect(source.problems.isEmpty)
    }

    @Test func pathKeepsTheRootAsGiven() throws {
        let tree = try ScratchTree()
        try tree.file("Lemon/l.jpg")
        let source = try DirectoryImageSource(root: tree.root + "//")
        #expect(source.images.map(\.path) == [tree.root + "/Lemon/l.jpg"])
    }

    @Test func globFiltersFileNamesCaseSensitively() throws {
        let tree = try ScratchTree()
        for name in ["a.jpg", "b.JPG", "c.jpeg", "d.png", "e.jpg.txt"] { try tree.file("L/\(name)") }
        let names = { (pattern: String) throws -> [String] in
            try DirectoryImageSource(root: tree.root, pattern: GlobPattern(pattern)).images.map {
                ($0.path as NSString).lastPathComponent
            }
        }
        #expect(try names("*.jpg") == ["a.jpg"])
        #expect(try names("*.{jpg,JPG,jpeg}") == ["a.jpg", "b.JPG", "c.jpeg"])
        #expect(try names("[a-c].*") == ["a.jpg", "b.JPG", "c.jpeg"])
        #expect(try names("[!a-c].*") == ["d.png", "e.jpg.txt"])
        #expect(try names("?.p?g") == ["d.png"])
    }

    @Test func hiddenAndUnderscoreEntriesAreSkipped() throws {
        let tree = try ScratchTree()
        try tree.file("Apple/.a.jpg")
        try tree.file(".cache/Apple/b.jpg")
        try tree.file("_temporary/Apple/c.jpg")
        try tree.file("Apple/d.jpg")
        #expect(try DirectoryImageSource(root: tree.root).images.map(\.label) == ["Apple"])
    }

    @Test func symlinkCycleIsReportedNotFollowedForever() throws {
        let tree = try ScratchTree()
        try tree.file("Apple/a.jpg")
        try tree.link("Apple/loop", to: tree.root)
        let source = try DirectoryImageSource(root: tree.root)
        #expect(source.images.count == 1)
        #expect(source.problems.map(\.reason) == [.linkCycle])
        #expect(source.problems.first?.path == tree.root + "/Apple/loop")
    }

    @Test func brokenLinkIsReported() throws {
        let tree = try ScratchTree()
        try tree.file("Apple/a.jpg")
        try tree.link("Apple/gone.jpg", to: tree.root + "/nowhere.jpg")
        let source = try DirectoryImageSource(root: tree.root)
        #expect(source.images.count == 1)
        #expect(source.problems == [DiscoveryError(path: tree.root + "/Apple/gone.jpg", reason: .brokenLink)])
    }

    @Test(.enabled(if: getuid() != 0, "root reads every folder"))
    func unreadableFolderIsReportedAndTheWalkGoesOn() throws {
        let tree = try ScratchTree()
        try tree.file("Apple/a.jpg")
        try tree.file("Secret/s.jpg")
        chmod(tree.root + "/Secret", 0)
        defer { chmod(tree.root + "/Secret", 0o755) }
        let source = try DirectoryImageSource(root: tree.root)
        #expect(source.images.map(\.label) == ["Apple"])
        #expect(source.problems.map(\.path) == [tree.root + "/Secret"])
    }

    @Test func nonUTF8NameIsReported() throws {
        let tree = try ScratchTree()
        try tree.file("Apple/a.jpg")
        let raw: [UInt8] = Array((tree.root + "/Apple/").utf8) + [0x66, 0xFF, 0x2E, 0x6A, 0x70, 0x67, 0]
        let descriptor = raw.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_CREAT | O_WRONLY, 0o644) }
        }
        try #require(descriptor >= 0)
        close(descriptor)
        let source = try DirectoryImageSource(root: tree.root)
        #expect(source.images.count == 1)
        #expect(source.problems.map(\.reason) == [.nameNotUTF8])
    }

    @Test func contentsAreReadAndLimited() throws {
        let tree = try ScratchTree()
        try tree.file("Apple/a.jpg", "hello")
        var source = try DirectoryImageSource(root: tree.root)
        let image = try #require(source.images.first)
        #expect(try source.contents(of: image) == Array("hello".utf8))
        source.maximumFileSize = 3
        #expect(throws: DiscoveryError(path: image.path, reason: .fileTooLarge(size: 5, limit: 3))) {
            try source.contents(of: image)
        }
        let missing = ImageFile(path: tree.root + "/Apple/none.jpg", label: "Apple")
        #expect(throws: DiscoveryError.self) { try source.contents(of: missing) }
    }

    @Test func rootMustBeAFolder() throws {
        let tree = try ScratchTree()
        try tree.file("f.jpg")
        #expect(throws: DiscoveryError(path: tree.root + "/f.jpg", reason: .notADirectory)) {
            try DirectoryImageSource(root: tree.root + "/f.jpg")
        }
        #expect(throws: DiscoveryError.self) { try DirectoryImageSource(root: tree.root + "/missing") }
    }

    @Test func malformedPatternsAreErrors() {
        #expect(throws: DiscoveryError.self) { try GlobPattern("*.{jpg") }
        #expect(throws: DiscoveryError.self) { try GlobPattern("[abc") }
        #expect(throws: DiscoveryError.self) { try GlobPattern("abc\\") }
    }

    @Test func iterationStreamsLargeFolders() throws {
        let tree = try ScratchTree()
        for index in 0..<500 { try tree.file("L/\(String(format: "%04d", index)).jpg") }
        var iterator = try DirectoryImageSource(root: tree.root).makeIterator()
        var count = 0
        var previous = ""
        while case .image(let image)? = iterator.next() {
            #expect(image.path > previous)
            previous = image.path
            count += 1
        }
        #expect(count == 500)
    }
}
