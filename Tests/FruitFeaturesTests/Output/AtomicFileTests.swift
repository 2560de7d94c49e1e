import Foundation
import Testing
@testable import FruitFeatures

@Suite struct AtomicFileTests {
    let directory: String = {
        let path = TestScratch.root + "/ff-atomic-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    @Test func nothingAppearsAtTheDestinationBeforeCommit() throws {
        let destination = directory + "/out.csv"
        let file = try AtomicFile(destination: destination)
        try file.write("a,b\n")
        try file.flush()
        #expect(!FileManager.default.fileExists(atPath: destination))
        #expect(FileManager.default.fileExists(atPath: file.temporaryPath))
        try file.commit()
        #expect(try String(contentsOfFile: destination, encoding: .utf8) == "a,b\n")
        #expect(!FileManager.default.fileExists(atPath: file.temporaryPath))
        #expect(file.offset == 4)
    }

    @Test func discardAndDeinitLeaveNothing() throws {
        let destination = directory + "/gone.csv"
        var temporary = ""
        do {
            let file = try AtomicFile(destination: destination)
            temporary = file.temporaryPath
            try file.write("x")
            try file.flush()
        }
        #expect(!FileManager.default.fileExists(atPath: temporary))
        #expect(!FileManager.default.fileExists(atPath: destination))
        let file = try AtomicFile(destination: destination)
        file.discard()
        #expect(!FileManager.default.fileExists(atPath: file.temporaryPath))
        #expect(throws: OutputError.self) { try file.write("late") }
    }

    @Test func unwritableDirectoryNamesTheFile() {
        let destination = directory + "/missing/sub/out.csv"
        #expect {
            try AtomicFile(destination: destination)
        } throws: { error in
            guard let error = error as? OutputError else { return false }
            return error.kind == .create && error.path == destination && error.description.contains("the folder \(directory)/missing/sub does not exist")
        }
    }

    @Test func fullDiskIsAnErrorAndLeavesNoFile() throws {
        // /dev/full fails every write with ENOSPC, as a full disk does.
        try #require(FileManager.default.fileExists(atPath: "/dev/full"))
        let file = try AtomicFile(destination: directory + "/full.bin")
        try file.redirectForTesting(to: "/dev/full")
        try file.write([UInt8](repeating: 1, count: 10))
        #expect(throws: OutputError.self) { try file.commit() }
        #expect(!FileManager.default.fileExists(atPath: directory + "/full.bin"))
    }
}
