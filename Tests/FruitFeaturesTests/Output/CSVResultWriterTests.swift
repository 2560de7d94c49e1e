import Foundation
import Testing
@testable import FruitFeatures

@Suite struct CSVResultWriterTests {
    let directory: String = {
        let path = TestScratch.root + "/ff-csv-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    @Test func headerRowsAndRFC4180Quoting() throws {
        let destination = directory + "/out.csv"
        let writer = try CSVResultWriter(destination: destination, featureCount: 3)
        try writer.write([
            FeatureRow(path: "/data/Apple/a.jpg", label: "Apple", features: [0.1, -2, 1e-5]),
            FeatureRow(path: "/data/a,b/\"q\".jpg", label: "Line\nbreak", features: [3.4028235e38, -0.0, 16777216]),
        ])
        try writer.write([FeatureRow(path: "", label: "cr\r", features: [.nan, .infinity, -.infinity])])
        #expect(writer.rowCount == 3)
        try writer.finish()
        let text = try String(contentsOfFile: destination, encoding: .utf8)
        #expect(text == """
            path,label,feature_0,feature_1,feature_2
            /data/Apple/a.jpg,Apple,0.1,-2.0,1e-05
            "/data/a,b/""q"".jpg","Line
            break",3.4028235e+38,-0.0,16777216.0
            "","cr\r",NaN,Inf,-Inf

            """)
    }

    @Test func quotingRules() {
        #expect(CSVResultWriter.quoted("plain name.jpg") == "plain name.jpg")
        #expect(CSVResultWriter.quoted("a,b") == "\"a,b\"")
        #expect(CSVResultWriter.quoted("say \"hi\"") == "\"say \"\"hi\"\"\"")
        #expect(CSVResultWriter.quoted("x\ny") == "\"x\ny\"")
        #expect(CSVResultWriter.quoted("x\ry") == "\"x\ry\"")
        #expect(CSVResultWriter.quoted("") == "\"\"")
        #expect(CSVResultWriter.quoted("Äpfel/🍎") == "Äpfel/🍎")
    }

    @Test func featuresAreShortestRoundTripDecimals() {
        var generator = SeededGenerator(seed: 4180)
        for _ in 0..<200_000 {
            let value = Float(bitPattern: UInt32.random(in: .min ... .max, using: &generator))
            guard value.isFinite else { continue }
            let text = CSVResultWriter.formatted(value)
            #expect(Float(text)?.bitPattern == value.bitPattern, "\(text)")
            // Shortest: one significant digit fewer would not read back.
            let digits = text.split(separator: "e")[0].filter(\.isNumber).drop { $0 == "0" }
            #expect(digits.count <= 9)
        }
        #expect(CSVResultWriter.formatted(.nan) == "NaN")
        #expect(CSVResultWriter.formatted(.infinity) == "Inf")
        #expect(CSVResultWriter.formatted(-.infinity) == "-Inf")
    }

    @Test func wrongFeatureCountIsRejectedWhole() throws {
        let destination = directory + "/bad.csv"
        let writer = try CSVResultWriter(destination: destination, featureCount: 2)
        try writer.write([FeatureRow(path: "a", label: "A", features: [1, 2])])
        #expect {
            try writer.write([
                FeatureRow(path: "b", label: "B", features: [1, 2]),
                FeatureRow(path: "c.jpg", label: "C", features: [1, 2, 3]),
            ])
        } throws: { error in
            guard let error = error as? OutputError else { return false }
            return error.kind == .invalidRow && error.path == destination
                && error.reason.contains("row 2") && error.reason.contains("c.jpg") && error.reason.contains("3 features")
        }
        try writer.write([FeatureRow(path: "d", label: "D", features: [3, 4])])
        try writer.finish()
        let text = try String(contentsOfFile: destination, encoding: .utf8)
        #expect(text == "path,label,feature_0,feature_1\na,A,1.0,2.0\nd,D,3.0,4.0\n")
    }

    @Test func atomicFinishAndDiscard() throws {
        let destination = directory + "/atomic.csv"
        let writer = try CSVResultWriter(destination: destination, featureCount: 1)
        try writer.write([FeatureRow(path: "a", label: "A", features: [1])])
        #expect(!FileManager.default.fileExists(atPath: destination))
        try writer.finish()
        #expect(FileManager.default.fileExists(atPath: destination))
        #expect(throws: OutputError.self) { try writer.write([]) }
        #expect(throws: OutputError.self) { try writer.finish() }

        let dropped = directory + "/dropped.csv"
        let discarded = try CSVResultWriter(destination: dropped, featureCount: 1)
        try discarded.write([FeatureRow(path: "a", label: "A", features: [1])])
        discarded.discard()
        #expect(!FileManager.default.fileExists(atPath: dropped))
        #expect {
            try discarded.write([])
        } throws: { ($0 as? OutputError)?.kind == .closed }

        let existing = directory + "/existing.csv"
        try "old".write(toFile: existing, atomically: false, encoding: .utf8)
        do {
            let abandoned = try CSVResultWriter(destination: existing, featureCount: 1)
            try abandoned.write([FeatureRow(path: "a", label: "A", features: [1])])
        }
        // A writer dropped without finish leaves the previous file untouched and no temporary behind.
        #expect(try String(contentsOfFile: existing, encoding: .utf8) == "old")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).allSatisfy { !$0.hasPrefix(".") })
    }

    @Test func rawFeatureWidthHeader() throws {
        let destination = directory + "/raw.csv"
        let writer = try CSVResultWriter(destination: destination, featureCount: 1280)
        try writer.write([FeatureRow(path: "p", label: "l", features: (0..<1280).map { Float($0) / 7 })])
        try writer.finish()
        let lines = try String(contentsOfFile: destination, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        let header = lines[0].split(separator: ",")
        #expect(header.count == 1282)
        #expect(header.last == "feature_1279")
        let values = lines[1].split(separator: ",").dropFirst(2).compactMap { Float($0) }
        #expect(values == (0..<1280).map { Float($0) / 7 })
    }

    // pandas reads every feature back to the same float32 bits, and paths and labels unchanged.
    @Test(.enabled(if: PythonRunner.isAvailable), arguments: [8, 1280])
    func pandasReadsValuesBackBitExactly(featureCount: Int) throws {
        var generator = SeededGenerator(seed: UInt64(featureCount))
        let specials: [Float] = [0, -0.0, 1, -1, 0.1, 1e-5, 1e20, .leastNonzeroMagnitude, .leastNormalMagnitude,
                                 .greatestFiniteMagnitude, -.greatestFiniteMagnitude, 16777216, 16777218, .ulpOfOne,
                                 .nan, .infinity, -.infinity]
        let names = ["plain.jpg", "with,comma.jpg", "with \"quotes\".jpg", "line\nfeed.jpg", "carriage\rreturn.jpg",
                     "both\r\n.jpg", "Äpfel 🍎.jpg", " leading space.jpg", ""]
        var rows: [FeatureRow] = []
        for index in 0..<40 {
            var features: [Float] = []
            for column in 0..<featureCount {
                let cell = index * featureCount + column
                if cell < specials.count {
                    features.append(specials[cell])
                } else if index % 2 == 0 {
                    // Any finite bit pattern, subnormals included.
                    var value: Float
                    repeat { value = Float(bitPattern: UInt32.random(in: .min ... .max, using: &generator)) } while !value.isFinite
                    features.append(value)
                } else {
                    features.append(Float(generator.normal()))  // typical magnitudes
                }
            }
            rows.append(FeatureRow(path: "/data/\(names[index % names.count])", label: ["Apple", "Ba,nana", "Q\"uince", ""][index % 4], features: features))
        }
        let destination = directory + "/pandas-\(featureCount).csv"
        let writer = try CSVResultWriter(destination: destination, featureCount: featureCount)
        try writer.write(Array(rows[0..<13]))
        try writer.write(Array(rows[13...]))
        try writer.finish()

        // The expected values as raw float32 and the strings as JSON, for the Python side.
        let raw = rows.flatMap(\.features).map(\.bitPattern.littleEndian)
        let rawPath = destination + ".f32"
        try raw.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: rawPath)) }
        let textPath = destination + ".json"
        try JSONSerialization.data(withJSONObject: ["path": rows.map(\.path), "label": rows.map(\.label)])
            .write(to: URL(fileURLWithPath: textPath))

        let script = """
            import json, sys
            import numpy as np, pandas as pd
            csv, raw, text, k = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
            expected = np.fromfile(raw, dtype="<f4").reshape(-1, k)
            strings = json.load(open(text, encoding="utf-8"))
            # keep_default_na=False: an empty label stays "", as written ("" quoted).
            df = pd.read_csv(csv, keep_default_na=False, na_values={f"feature_{i}": ["NaN"] for i in range(k)})
            assert list(df.columns) == ["path", "label"] + [f"feature_{i}" for i in range(k)], list(df.columns)[:4]
            assert df["path"].tolist() == strings["path"], (df["path"].tolist(), strings["path"])
            assert df["label"].tolist() == strings["label"]
            features = df[[f"feature_{i}" for i in range(k)]]
            assert all(t == np.float64 for t in features.dtypes), set(features.dtypes)
            for got in (features.to_numpy().astype(np.float32),
                        pd.read_csv(csv, dtype={f"feature_{i}": np.float32 for i in range(k)}).iloc[:, 2:].to_numpy()):
                assert got.dtype == np.float32
                same = (got.view(np.uint32) == expected.view(np.uint32)) | (np.isnan(got) & np.isnan(expected))
                bad = np.argwhere(~same)
                assert bad.size == 0, [(tuple(i), repr(got[tuple(i)]), repr(expected[tuple(i)])) for i in bad[:5]]
            # Shortest round-trip: the same decimal value numpy's shortest repr (Ryu-style) gives.
            import csv as csvmodule
            from decimal import Decimal
            with open(csv, newline="", encoding="utf-8") as f:
                cells = [row[2:] for row in list(csvmodule.reader(f))[1:]]
            for r, row in enumerate(cells):
                for c, cell in enumerate(row):
                    v = expected[r, c]
                    if np.isfinite(v):
                        shortest = np.format_float_scientific(v, unique=True)
                        assert Decimal(cell) == Decimal(shortest), (r, c, cell, shortest)
            print("ok", got.shape)
            """
        let result = try PythonRunner.run(script, arguments: [destination, rawPath, textPath, String(featureCount)])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("ok (40, \(featureCount))"), "\(result.output)")
    }
}
