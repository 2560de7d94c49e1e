import Foundation
import Testing
@testable import FruitFeatures

/// A fresh directory under the system temporary directory, removed by the caller.
func makeTemporaryDirectory() throws -> URL {
    let url = URL(fileURLWithPath: TestScratch.root).appendingPathComponent("fruitfeatures-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

@Suite struct HDF5RoundTripTests {
    @Test func writtenDatasetsAndAttributesReadBack() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("round-trip.h5")

        let floats: [Float] = (0..<24).map { Float($0) * 0.5 - 3 }
        let doubles: [Double] = [1.0 / 3.0, -2.5e300, 0, .pi, 7, 8]
        let integers: [Int64] = [Int64.min, -1, 0, 1, Int64.max]
        do {
            let file = try HDF5File(creatingAt: url)
            let model = try file.root.createGroup("model")
            try model.writeDataset("weights", shape: [2, 3, 4], values: floats)
            try model.writeDataset("nested/deeper/doubles", shape: [3, 2], values: doubles)
            try file.root.writeDataset("integers", shape: [5], values: integers)
            try file.root.writeDataset("scalar", shape: [], values: [Float(42.5)])
            try file.root.writeDataset("empty", shape: [0, 3], values: [Float]())
            try file.root.setAttribute("version", to: "1.2.3 é")
            try file.root.setAttribute("count", to: 200)
            try file.root.setAttribute("ratio", to: 0.123456789012345)
            try model.setAttribute("names", to: ["alpha", "", "gamma ünicode"])
            try model.dataset("weights").setAttribute("unit", to: Int64(-7))
            // Replacing an attribute keeps only the new value.
            try file.root.setAttribute("count", to: 201)
        }

        let file = try HDF5File(readingFrom: url)
        #expect(try file.root.memberNames() == ["empty", "integers", "model", "scalar"])
        #expect(try file.root.group("model").memberNames() == ["nested", "weights"])
        #expect(file.root.kindOfMember("model") == .group)
        #expect(file.root.kindOfMember("model/weights") == .dataset)
        #expect(file.root.kindOfMember("model/absent") == nil)
        #expect(file.root.kindOfMember("absent/deeper") == nil)

        let weights = try file.root.dataset("model/weights").readFloats()
        #expect(weights == HDF5Array(shape: [2, 3, 4], values: floats))
        #expect(try file.root.dataset("model/nested/deeper/doubles").readDoubles() == HDF5Array(shape: [3, 2], values: doubles))
        // float64 storage converts to float32 on read.
        let narrowed = try file.root.dataset("model/nested/deeper/doubles").readFloats()
        #expect(narrowed.values == doubles.map { Float($0) })
        #expect(try file.root.dataset("integers").readInt64s().values == integers)
        #expect(try file.root.dataset("scalar").readFloats() == HDF5Array(shape: [], values: [42.5]))
        #expect(try file.root.dataset("empty").readFloats() == HDF5Array(shape: [0, 3], values: []))
        #expect(try file.root.dataset("model/weights").shape() == [2, 3, 4])

        #expect(try file.root.attributeNames() == ["count", "ratio", "version"])
        #expect(try file.root.stringAttribute("version") == "1.2.3 é")
        #expect(try file.root.integerAttribute("count") == 201)
        #expect(try file.root.doubleAttribute("count") == 201)
        #expect(try file.root.doubleAttribute("ratio") == 0.123456789012345)
        #expect(try file.root.group("model").stringsAttribute("names") == ["alpha", "", "gamma ünicode"])
        #expect(try file.root.dataset("model/weights").integerAttribute("unit") == -7)
        #expect(try file.root.hasAttribute("version"))
        #expect(try !file.root.hasAttribute("absent"))
    }

    /// A process spawned by another thread while a file is open inherits its descriptor, and with it any
    /// flock libhdf5 took: the library's own reads and writes must not depend on such a lock being free.
    @Test func aFileLockedElsewhereStillReadsAndWrites() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("locked.h5")
        do {
            let file = try HDF5File(creatingAt: url)
            try file.root.writeDataset("x", shape: [2], values: [Float(1), 2])
        }
        let descriptor = open(url.path, O_RDONLY | O_CLOEXEC)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        try #require(flock(descriptor, LOCK_EX | LOCK_NB) == 0)

        do {
            let file = try HDF5File(readingFrom: url)
            #expect(try file.root.dataset("x").readFloats().values == [1, 2])
        }
        let rewritten = try HDF5File(creatingAt: url)
        try rewritten.root.writeDataset("y", shape: [1], values: [Float(3)])
    }

    /// libhdf5 treats in-memory files of the same name as one file: two images open at once (two `.keras`
    /// archives loading in parallel) must each read their own bytes.
    @Test func twoImagesOpenAtOnceReadTheirOwnContents() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var images: [[UInt8]] = []
        for value in [Float(1), 2] {
            let url = directory.appendingPathComponent("\(value).h5")
            do {
                let file = try HDF5File(creatingAt: url)
                try file.root.writeDataset("x", shape: [1], values: [value])
            }
            images.append(Array(try Data(contentsOf: url)))
        }
        let first = try HDF5File(image: images[0], url: directory.appendingPathComponent("first"))
        let second = try HDF5File(image: images[1], url: directory.appendingPathComponent("second"))
        #expect(try first.root.dataset("x").readFloats().values == [1])
        #expect(try second.root.dataset("x").readFloats().values == [2])
    }

    @Test func writingTheWrongNumberOfValuesIsAnError() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = try HDF5File(creatingAt: directory.appendingPathComponent("bad.h5"))
        #expect(throws: HDF5Error(file: file.url.path, object: "/x", reason: .sizeMismatch(expected: 6, actual: 5))) {
            try file.root.writeDataset("x", shape: [2, 3], values: [Float](repeating: 0, count: 5))
        }
        #expect(throws: HDF5Error(file: file.url.path, object: "/y", reason: .invalidShape([-1, 2]))) {
            try file.root.writeDataset("y", shape: [-1, 2], values: [Double]())
        }
    }

    @Test func aFileThatIsNotHDF5GivesAClearError() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("not-hdf5.h5")
        try Data("this is not an HDF5 file, just text\n".utf8).write(to: url)
        do {
            _ = try HDF5File(readingFrom: url)
            Issue.record("opening a text file succeeded")
        } catch {
            #expect(error.reason == .notHDF5)
            #expect(error.file == url.path)
            #expect(error.description.contains(url.path))
            #expect(error.description.contains("not an HDF5 file"))
        }
    }

    @Test func aMissingFileGivesAClearError() throws {
        let url = URL(fileURLWithPath: "/nonexistent/fruitfeatures/weights.h5")
        #expect(throws: HDF5Error(file: url.path, object: "/", reason: .fileNotFound)) {
            try HDF5File(readingFrom: url)
        }
    }

    @Test func missingObjectsAndAttributesAreNamedInErrors() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("small.h5")
        do {
            let file = try HDF5File(creatingAt: url)
            try file.root.createGroup("layer")
            try file.root.writeDataset("layer/kernel", shape: [1], values: [Float(1)])
            try file.root.setAttribute("number", to: 3.5)
        }
        let file = try HDF5File(readingFrom: url)
        #expect(throws: HDF5Error(file: url.path, object: "/layer/bias", reason: .missingObject)) {
            try file.root.dataset("layer/bias")
        }
        #expect(throws: HDF5Error(file: url.path, object: "/layer/kernel", reason: .notA("group"))) {
            try file.root.group("layer/kernel")
        }
        #expect(throws: HDF5Error(file: url.path, object: "/layer", reason: .notA("dataset"))) {
            try file.root.dataset("layer")
        }
        #expect(throws: HDF5Error(file: url.path, object: "/layer@weight_names", reason: .missingObject)) {
            try file.root.group("layer").stringsAttribute("weight_names")
        }
        #expect(throws: HDF5Error(file: url.path, object: "/@number", reason: .unsupportedType("float"))) {
            try file.root.stringAttribute("number")
        }
        #expect(throws: HDF5Error(file: url.path, object: "/@number", reason: .unsupportedType("float"))) {
            try file.root.integerAttribute("number")
        }
    }
}
