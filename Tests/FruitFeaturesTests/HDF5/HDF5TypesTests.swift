import Foundation
import Testing
@testable import FruitFeatures

/// Reads Fixtures/hdf5/types.h5 (written by h5py, Scripts/make_hdf5_fixtures.py) and compares with
/// types.json, what h5py reads back from it.
@Suite struct HDF5TypesTests {
    struct Expected: Decodable {
        struct Dataset: Decodable {
            let shape: [Int]
            let float32: [Float]
        }
        let datasets: [String: Dataset]
        let strings: [String: [String]]
        let numbers: [String: Double]
    }

    static let url = FixturePaths.root.appendingPathComponent("hdf5/types.h5")

    static func expected() throws -> Expected {
        let data = try Data(contentsOf: FixturePaths.root.appendingPathComponent("hdf5/types.json"))
        return try JSONDecoder().decode(Expected.self, from: data)
    }

    @Test func datasetsOfEveryStoredTypeReadAsFloat32() throws {
        let expected = try Self.expected()
        let file = try HDF5File(readingFrom: Self.url)
        #expect(expected.datasets.count == 5)
        for (name, dataset) in expected.datasets {
            let array = try file.root.dataset(name).readFloats()
            #expect(array.shape == dataset.shape, "\(name)")
            #expect(array.values == dataset.float32, "\(name)")
        }
    }

    @Test func stringAttributesOfEveryLayout() throws {
        let expected = try Self.expected()
        let file = try HDF5File(readingFrom: Self.url)
        #expect(expected.strings.count == 9)
        for (name, strings) in expected.strings {
            #expect(try file.root.stringsAttribute(name) == strings, "\(name)")
        }
        #expect(try file.root.stringAttribute("scalar_fixed") == "2.1.6")
        #expect(try file.root.stringAttribute("scalar_variable") == "tensorflow")
    }

    @Test func numericAttributesOfSeveralWidths() throws {
        let expected = try Self.expected()
        let file = try HDF5File(readingFrom: Self.url)
        for name in ["int8", "uint16", "int64"] {
            #expect(try Double(file.root.integerAttribute(name)) == expected.numbers[name], "\(name)")
        }
        for name in ["float32", "float64"] {
            #expect(try file.root.doubleAttribute(name) == expected.numbers[name], "\(name)")
        }
        #expect(throws: HDF5Error.self) { try file.root.integerAttribute("float64") }
    }

    @Test func membersAreListedInNameOrder() throws {
        let file = try HDF5File(readingFrom: Self.url)
        #expect(try file.root.memberNames() == ["float16", "float32_big_endian", "float64", "group", "int32"])
        #expect(try file.root.attributeNames().contains("fixed_spacepad"))
    }
}
