import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import FruitFeatures

@Suite struct AnalysisFeatureTableTests {
    static func write(_ text: String) throws -> URL {
        let url = URL(fileURLWithPath: try makeScratchFolder("ff-table")).appendingPathComponent("features.csv")
        try Data(text.utf8).write(to: url)
        return url
    }

    @Test func readsBackWhatCSVResultWriterWritesBitForBit() throws {
        var generator = SeededGenerator(seed: 11)
        let special: [Float] = [-0.0, 0.0, .leastNonzeroMagnitude, -.leastNormalMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, 0.1, 1.0, 16777216]
        var rows: [FeatureRow] = []
        let paths = ["plain/a.jpg", "with, comma.jpg", "with \"quotes\".jpg", "line\nbreak.jpg", "crlf\r\n.jpg", "ünïcødé/果物.jpg", ""]
        for (index, path) in paths.enumerated() {
            var features = (0..<7).map { _ in Float(generator.normal() * pow(10, Double(Int(generator.next() % 9)) - 4)) }
            features[index % 7] = special[index % special.count]
            rows.append(FeatureRow(path: path, label: index == 6 ? "" : "label \(index % 3), \"x\"", features: features))
        }
        let directory = try makeScratchFolder("ff-table")
        let writer = try CSVResultWriter(destination: directory + "/features.csv", featureCount: 7)
        try writer.write(rows)
        try writer.finish()

        let table = try FeatureTable(contentsOfCSV: URL(fileURLWithPath: directory + "/features.csv"))
        #expect(table.rowCount == rows.count)
        #expect(table.featureCount == 7)
        #expect(table.paths == rows.map(\.path))
        #expect(table.labels == rows.map(\.label))
        #expect(table.values.map(\.bitPattern) == rows.flatMap(\.features).map(\.bitPattern))
        #expect(table.rows == rows)
    }

    @Test func readsWhatPandasWrites() throws {
        // Written by Scripts/make_analysis_golden.py with pandas.DataFrame.to_csv; pandas read it back equal.
        let table = try FeatureTable(contentsOfCSV: AnalysisFixture.golden.appendingPathComponent("knn/features.csv"))
        #expect(table.rowCount == 60)
        #expect(table.featureCount == 12)
        #expect(table.paths[3] == "fruits/odd, name/with \"quotes\".jpg")
        #expect(table.paths[7] == "fruits/line\nbreak.jpg")
        #expect(table.distinctLabels == ["Apple Braeburn", "Banana", "Kiwi", "Pear \"Williams\""])
        #expect(table.labelCounts.map(\.count).reduce(0, +) == 60)
    }

    /// `strtof` on the whole text, or nil when it does not read all of it: the reference for the fast decimal path.
    static func referenceFloat(_ text: String) -> Float? {
        text.withCString { start in
            var end: UnsafeMutablePointer<CChar>?
            let value = strtof(start, &end)
            guard let end, !text.isEmpty, end == UnsafeMutablePointer(mutating: start) + text.utf8.count else { return nil }
            return value
        }
    }

    static func scannedFloat(_ text: String) throws -> (value: Float?, fast: Float?) {
        var bytes = Array(text.utf8) + [0]
        let count = bytes.count - 1
        return try bytes.withUnsafeMutableBufferPointer { buffer in
            let base = try #require(buffer.baseAddress)
            let scanner = CSVScanner(bytes: base, count: count)
            let value = try withCNumericLocale { scanner.float(CSVField(start: 0, end: count, isQuoted: false)) }
            return (value, CSVScanner.fastDecimal(base, count: count))
        }
    }

    @Test func fastDecimalsRoundExactlyAsStrtof() throws {
        var generator = SeededGenerator(seed: 21)
        var texts = [
            "0", "-0", "-0.0", "+3", ".5", "5.", "1e5", "1E+05", "-.5e-3", "00012", "0.000", "16777217", "16777219",
            "9007199254740993", "9007199254740992", "1e22", "1e23", "1e-22", "1e-23", "123456789012345678",
            "1234567890123456789", "12345678901234567890", "3.4028235e+38", "3.4028236e+38", "1e-45", "7.0064923e-45",
            "0.1", "0.30000001192092896", "1.00000005960464477539", "0.000000000000000000000000000001",
        ]
        // Every kind of Float, as CSVResultWriter prints it (shortest round-trip decimal).
        for _ in 0..<20000 {
            let value = Float(bitPattern: UInt32(truncatingIfNeeded: generator.next()))
            if value.isFinite { texts.append(value.description) }
        }
        // Decimals with up to 19 digits, the point anywhere, exponents from −30 to 30.
        for _ in 0..<20000 {
            let digits = String((0..<(1 + Int(generator.next() % 19))).map { _ in Character(String(generator.next() % 10)) })
            let point = Int(generator.next() % UInt64(digits.count + 1))
            var text = String(digits.prefix(point)) + "." + String(digits.dropFirst(point))
            if generator.next() % 2 == 0 { text += "e\(Int(generator.next() % 61) - 30)" }
            if generator.next() % 3 == 0 { text = "-" + text }
            texts.append(text)
        }
        // Exact midpoints between neighbouring Floats: the Double is the decimal, and must not be rounded twice.
        for _ in 0..<5000 {
            let value = Float(bitPattern: UInt32(truncatingIfNeeded: generator.next()) & 0x3FFF_FFFF | 0x0080_0000)
            texts.append(((Double(value) + Double(value.nextUp)) / 2).description)
        }
        var fastCount = 0
        for text in texts {
            let expected = try #require(Self.referenceFloat(text), "\(text)")
            let (value, fast) = try Self.scannedFloat(text)
            #expect(value?.bitPattern == expected.bitPattern, "\(text): \(String(describing: value)) vs \(expected)")
            if let fast {
                fastCount += 1
                #expect(fast.bitPattern == expected.bitPattern, "\(text)")
            }
        }
        // Most plain decimals take the fast path (the rest: many digits, large exponents, midpoints).
        #expect(fastCount > texts.count / 2, "\(fastCount) of \(texts.count)")
        for text in ["", "-", ".", "e5", "1e", "1e+", "1.2.3", "1-2", " 1", "1 ", "0x10", "inf", "nan", "1,5"] {
            #expect(try Self.scannedFloat(text).fast == nil, "\(text)")
            #expect(try Self.scannedFloat(text).value?.bitPattern == Self.referenceFloat(text)?.bitPattern, "\(text)")
        }
    }

    @Test func acceptsWindowsLineEndsAndNoFinalLineBreak() throws {
        let table = try FeatureTable(contentsOfCSV: try Self.write("path,label,feature_0,feature_1\r\na.jpg,A,1.5,-2\r\n\"b,1.jpg\",B,3e2,0.25"))
        #expect(table.paths == ["a.jpg", "b,1.jpg"])
        #expect(table.labels == ["A", "B"])
        #expect(table.values == [1.5, -2, 300, 0.25])
    }

    @Test(arguments: [
        ("", "empty file"),
        ("path,label\n", "must start with path,label,feature_0"),
        ("label,path,feature_0\n", "must start with path,label,feature_0"),
        ("path,label,feature_0,feature_2\n", "header column 4 is \"feature_2\", expected \"feature_1\""),
        ("path,label,feature_0\na.jpg,A\n", "line 2 has 2 fields, expected 3"),
        ("path,label,feature_0\na.jpg,A,1\nb.jpg,B,1,2\n", "line 3 has 4 fields, expected 3"),
        ("path,label,feature_0\na.jpg,A,one\n", "line 2: feature_0 is \"one\", not a finite number"),
        ("path,label,feature_0\na.jpg,A,1.5x\n", "feature_0 is \"1.5x\""),
        ("path,label,feature_0\na.jpg,A,\n", "feature_0 is \"\""),
        ("path,label,feature_0\na.jpg,A,NaN\n", "feature_0 is \"NaN\", not a finite number"),
        ("path,label,feature_0\na.jpg,A,1e39\n", "not a finite number"),
        ("path,label,feature_0\n\"a.jpg,A,1\n", "line 2: a quoted field is not closed"),
        ("path,label,feature_0\n\"a\"x.jpg,A,1\n", "unexpected character after the closing quote"),
    ])
    func rejectsMalformedFilesNamingTheLine(text: String, message: String) throws {
        let url = try Self.write(text)
        let error = #expect(throws: AnalysisError.self) { try FeatureTable(contentsOfCSV: url) }
        #expect(error?.kind == .malformed)
        #expect(error?.path == url.path)
        #expect(error?.description.contains(message) == true, "\(error?.description ?? "")")
    }

    @Test func missingFileIsUnreadable() throws {
        let error = #expect(throws: AnalysisError.self) {
            try FeatureTable(contentsOfCSV: URL(fileURLWithPath: "/nonexistent/features.csv"))
        }
        #expect(error?.kind == .unreadable)
        #expect(error?.description == "/nonexistent/features.csv: No such file or directory")
    }

    @Test func outputFolderSaysWhenOnlyParquetIsThere() throws {
        let directory = try makeScratchFolder("ff-table")
        try Data("PAR1".utf8).write(to: URL(fileURLWithPath: directory + "/features.parquet"))
        let output = try ExtractionRun(directory: URL(fileURLWithPath: directory))
        let error = #expect(throws: AnalysisError.self) { try output.readFeatures() }
        #expect(error?.description.contains("--format parquet,csv") == true)
        #expect(try output.readSummary() == nil)
        #expect(try output.readFailedImages() == nil)
        #expect(try output.readEvaluation() == nil)
        #expect(throws: AnalysisError.self) { try ExtractionRun(directory: URL(fileURLWithPath: directory + "/features.parquet")) }
    }

    @Test func columnsMustFit() {
        #expect(throws: AnalysisError.self) { try FeatureTable(paths: ["a"], labels: [], featureCount: 1, values: [1]) }
        #expect(throws: AnalysisError.self) { try FeatureTable(paths: ["a"], labels: ["A"], featureCount: 2, values: [1]) }
        #expect(throws: AnalysisError.self) { try FeatureTable(paths: ["a"], labels: ["A"], featureCount: 0, values: []) }
        #expect(throws: AnalysisError.self) { try FeatureTable(paths: ["a"], labels: ["A"], featureCount: 1, values: [.infinity]) }
        #expect(throws: AnalysisError.self) {
            try FeatureTable(rows: [FeatureRow(path: "a", label: "A", features: [1, 2])], featureCount: 3)
        }
    }

    @Test func readsErrorsCSV() throws {
        let url = try Self.write("path,reason\na.jpg,empty file\n\"b, \"\"c\"\".jpg\",\"not a JPEG file, PNG data\"\n")
        let records = try FailedImage.records(contentsOfCSV: url)
        #expect(records == [FailedImage(path: "a.jpg", reason: "empty file"),
                            FailedImage(path: "b, \"c\".jpg", reason: "not a JPEG file, PNG data")])
        let bad = try Self.write("file,why\na,b\n")
        #expect(throws: AnalysisError.self) { try FailedImage.records(contentsOfCSV: bad) }
    }

    @Test func summaryFieldsAreFlattenedForTheReport() throws {
        let json = """
            {"weights": {"path": "/w.h5", "sha256": "abc"}, "images_per_second": 120.5, "flag": true, "none": null,
             "pca": {"explained_variance_ratio": [0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125], "components": 7},
             "name": "run", "list": [1, "a"], "empty": {}}
            """
        let fields = try JSONDecoder().decode([String: SummaryValue].self, from: Data(json.utf8))
        #expect(fields["flag"] == .bool(true))
        #expect(fields["none"] == SummaryValue.null)
        #expect(fields["list"] == .array([.number(1), .string("a")]))
        let flattened = SummaryValue.flattenedFields(of: fields)
        #expect(flattened.map(\.key) == [
            "empty", "flag", "images_per_second", "list", "name", "none", "pca.components", "pca.explained_variance_ratio",
            "weights.path", "weights.sha256",
        ])
        let text = Dictionary(uniqueKeysWithValues: flattened.map { ($0.key, $0.value) })
        #expect(text["images_per_second"] == "120.5")
        #expect(text["pca.components"] == "7")
        #expect(text["pca.explained_variance_ratio"] == "[7 values: 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.01562, …]")
        #expect(text["flag"] == "yes")
        #expect(text["list"] == "[1, a]")

        // A summary.json that is not an extraction's summary is a typed error naming the file.
        let directory = try makeScratchFolder("ff-table")
        try Data(json.utf8).write(to: URL(fileURLWithPath: directory + "/summary.json"))
        let error = #expect(throws: AnalysisError.self) { try ExtractionRun(directory: URL(fileURLWithPath: directory)).readSummary() }
        #expect(error?.kind == .malformed)
        #expect(error?.path == directory + "/summary.json")
    }
}
