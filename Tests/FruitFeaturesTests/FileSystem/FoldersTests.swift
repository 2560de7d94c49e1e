import Foundation
import Testing
@testable import FruitFeatures
#if canImport(Glibc)
import Glibc
#endif

/// The file layer's folder functions: one listing, one `mkdir -p`, one recursive removal that never follows links.
@Suite struct FoldersTests {
    /// Writes `text` to `path`.
    static func write(_ text: String, to path: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    /// A `current` link made by hand with a trailing slash still names its generation: the name is what a
    /// re-run keeps when it removes the other generations.
    @Test func theCurrentGenerationIsNamedWithoutTrailingSlashes() throws {
        let folder = try makeScratchFolder("generations")
        let generations = RunGenerations(directory: folder)
        try FileManager.default.createDirectory(atPath: folder + "/" + RunGenerations.generationsName + "/g1",
                                                withIntermediateDirectories: true)
        for target in [RunGenerations.generationsName + "/g1", RunGenerations.generationsName + "/g1//"] {
            try? FileManager.default.removeItem(atPath: folder + "/" + RunGenerations.currentName)
            try FileManager.default.createSymbolicLink(atPath: folder + "/" + RunGenerations.currentName,
                                                       withDestinationPath: target)
            #expect(generations.currentGeneration == folder + "/" + RunGenerations.generationsName + "/g1", "\(target)")
            #expect(OutputTarget.namePart(of: generations.currentGeneration) == "g1", "\(target)")
        }
    }

    @Test func aListingNamesFilesFoldersAndLinksButNotDotEntries() throws {
        let folder = try makeScratchFolder("ff-list")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try Self.write("a", to: folder + "/a.txt")
        try Self.write("h", to: folder + "/.hidden")
        try FileManager.default.createDirectory(atPath: folder + "/sub/deeper", withIntermediateDirectories: true)
        try Self.write("b", to: folder + "/sub/b.txt")
        try FileManager.default.createSymbolicLink(atPath: folder + "/link", withDestinationPath: "/nonexistent")

        #expect(try folderEntries(atPath: folder).sorted() == [".hidden", "a.txt", "link", "sub"])
        #expect(try folderEntries(atPath: folder + "/sub").sorted() == ["b.txt", "deeper"])
        #expect(try folderEntries(atPath: folder + "/sub/deeper") == [])
        // A link to a folder is listed as the folder (as opendir does).
        try FileManager.default.createSymbolicLink(atPath: folder + "/to-sub", withDestinationPath: "sub")
        #expect(try folderEntries(atPath: folder + "/to-sub").sorted() == ["b.txt", "deeper"])
    }

    @Test func aListingThatCannotBeMadeNamesThePathAndTheReason() throws {
        let folder = try makeScratchFolder("ff-list-bad")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try Self.write("a", to: folder + "/file")
        #expect(throws: FileProblem(folder + "/missing", .system(.noSuchFileOrDirectory))) {
            try folderEntries(atPath: folder + "/missing")
        }
        #expect(throws: FileProblem(folder + "/file", .system(.notDirectory))) {
            try folderEntries(atPath: folder + "/file")
        }
        let message = "\(FileProblem(folder + "/missing", .system(.noSuchFileOrDirectory)))"
        #expect(message == folder + "/missing: No such file or directory")
    }

    @Test(.enabled(if: getuid() != 0, "root reads and removes whatever the permissions say"))
    func anUnreadableFolderIsNamedInTheError() throws {
        let folder = try makeScratchFolder("ff-unreadable")
        defer {
            chmod(folder + "/locked", 0o755)
            try? FileManager.default.removeItem(atPath: folder)
        }
        try FileManager.default.createDirectory(atPath: folder + "/locked", withIntermediateDirectories: false)
        try Self.write("x", to: folder + "/locked/inside")
        #expect(chmod(folder + "/locked", 0o300) == 0)
        #expect(throws: FileProblem(folder + "/locked", .system(.permissionDenied))) {
            try folderEntries(atPath: folder + "/locked")
        }
        #expect(throws: FileProblem(folder + "/locked", .system(.permissionDenied))) {
            try removeTree(atPath: folder)
        }
    }

    @Test func removalNeverFollowsASymbolicLinkOutOfTheTree() throws {
        let scratch = try makeScratchFolder("ff-remove")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let outside = scratch + "/outside"
        try FileManager.default.createDirectory(atPath: outside + "/inner", withIntermediateDirectories: true)
        try Self.write("keep", to: outside + "/kept.txt")
        try Self.write("keep", to: outside + "/inner/kept.txt")

        let tree = scratch + "/tree"
        try FileManager.default.createDirectory(atPath: tree + "/a/b", withIntermediateDirectories: true)
        try Self.write("1", to: tree + "/top.txt")
        try Self.write("2", to: tree + "/a/b/deep.txt")
        try Self.write("3", to: tree + "/a/.hidden")
        try FileManager.default.createSymbolicLink(atPath: tree + "/a/to-outside", withDestinationPath: outside)
        try FileManager.default.createSymbolicLink(atPath: tree + "/to-outside-absolute", withDestinationPath: outside + "/inner")
        try FileManager.default.createSymbolicLink(atPath: tree + "/to-file", withDestinationPath: outside + "/kept.txt")
        try FileManager.default.createSymbolicLink(atPath: tree + "/dangling", withDestinationPath: scratch + "/none")
        try ReliabilityFileSafetyTests.makeFIFO(tree + "/a/b/fifo")

        try removeTree(atPath: tree)
        #expect(!FileManager.default.fileExists(atPath: tree))
        #expect(try folderEntries(atPath: scratch) == ["outside"])
        #expect(try String(contentsOfFile: outside + "/kept.txt", encoding: .utf8) == "keep")
        #expect(try String(contentsOfFile: outside + "/inner/kept.txt", encoding: .utf8) == "keep")

        // A link given as the tree itself: the link goes, its folder stays.
        try FileManager.default.createSymbolicLink(atPath: scratch + "/link", withDestinationPath: outside)
        try removeTree(atPath: scratch + "/link")
        #expect(try folderEntries(atPath: scratch) == ["outside"])
        #expect(try folderEntries(atPath: outside).sorted() == ["inner", "kept.txt"])

        // A single file, and a missing path (named in the error).
        try removeTree(atPath: outside + "/kept.txt")
        #expect(try folderEntries(atPath: outside) == ["inner"])
        #expect(throws: FileProblem(scratch + "/none", .system(.noSuchFileOrDirectory))) {
            try removeTree(atPath: scratch + "/none")
        }
    }

    @Test func makeFoldersCreatesWhatIsMissingAndReportsIt() throws {
        let scratch = try makeScratchFolder("ff-mkdir")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        #expect(try makeFolders(atPath: scratch + "/a/b/c") == [scratch + "/a", scratch + "/a/b", scratch + "/a/b/c"])
        #expect(folderExists(atPath: scratch + "/a/b/c"))
        #expect(try makeFolders(atPath: scratch + "/a/b") == [])
        // A trailing slash names the same folder once more.
        #expect(try makeFolders(atPath: scratch + "/x/") == [scratch + "/x"])
        #expect(folderExists(atPath: scratch + "/x"))

        try FileManager.default.createSymbolicLink(atPath: scratch + "/dangling", withDestinationPath: scratch + "/nowhere")
        #expect(throws: FileProblem(scratch + "/dangling", .danglingLink(scratch + "/nowhere"))) {
            try makeFolders(atPath: scratch + "/dangling/inner")
        }
        #expect(!FileManager.default.fileExists(atPath: scratch + "/nowhere"))
        try Self.write("f", to: scratch + "/file")
        #expect(throws: FileProblem(scratch + "/file/inner", .system(.notDirectory))) {
            try makeFolders(atPath: scratch + "/file/inner")
        }
    }
}
