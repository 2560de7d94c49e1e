import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import FruitFeatures

@Suite struct AnalysisReportTests {
    /// The `<svg>…</svg>` elements of a page.
    static func svgElements(_ html: String) -> [String] {
        var elements: [String] = []
        var rest = html[...]
        while let start = rest.range(of: "<svg "), let end = rest.range(of: "</svg>", range: start.upperBound..<rest.endIndex) {
            elements.append(String(rest[start.lowerBound..<end.upperBound]))
            rest = rest[end.upperBound...]
        }
        return elements
    }

    static func occurrences(of needle: String, in text: String) -> Int {
        text.components(separatedBy: needle).count - 1
    }

    final class XMLCheck: NSObject, XMLParserDelegate {
        var elements: [String: Int] = [:]
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            elements[name, default: 0] += 1
        }
    }

    @Test func thresholdComponentsMatchScikitLearn() throws {
        // Fixtures/golden/pca: scikit-learn's PCA(n_components=share) component counts on the full spectrum.
        let index = try JSONSerialization.jsonObject(with: Data(contentsOf: FixturePaths.root.appendingPathComponent("golden/pca/index.json")))
        let cases = try #require((index as? [String: Any])?["cases"] as? [String: [String: Any]])
        for (name, entry) in cases {
            let data = try Data(contentsOf: FixturePaths.root.appendingPathComponent("golden/pca/\(name)/explained_variance_ratio_all.f64"))
            let ratios = data.withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }
            let expected = try #require(entry["variance_share_k"] as? [String: Int])
            for (share, count) in expected {
                #expect(ReportPage.componentsReaching(try #require(Double(share)), ratios: ratios) == count, "\(name) \(share)")
            }
        }
        #expect(ReportPage.componentsReaching(0.99, ratios: [0.5, 0.3]) == nil)
    }

    @Test func pageShowsEveryPartOfTheOutputFolder() async throws {
        let extraction = try await AnalysisFixture.extract(componentCount: 4)
        let output = try ExtractionRun(directory: extraction.directory)
        let page = try ReportPage(folder: output)
        let html = page.html()
        #expect(html == (try ReportPage(folder: output).html()), "same inputs, same bytes")

        // Self-contained: no script, nothing fetched; the only URL is the SVG namespace.
        #expect(!html.contains("<script"))
        #expect(!html.contains("src=") && !html.contains("href=") && !html.contains("<link"))
        #expect(html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").range(of: "http") == nil)

        // The three charts, each well-formed SVG with the expected marks.
        let svgs = Self.svgElements(html)
        #expect(svgs.count == 3)
        var marks: [String: [String: Int]] = [:]
        for svg in svgs {
            let parser = XMLParser(data: Data(svg.utf8))
            let check = XMLCheck()
            parser.delegate = check
            #expect(parser.parse(), "not well-formed: \(parser.parserError.map { "\($0)" } ?? "")")
            let id = svg.components(separatedBy: "id=\"").dropFirst().first?.components(separatedBy: "\"").first ?? ""
            marks[id] = check.elements
        }
        // One bar per component (plus the box of threshold captions), one point per threshold reached.
        #expect(marks["explained-variance-plot"]?["rect"] == 4 + 1)
        let bars = try #require(html.components(separatedBy: "<g id=\"variance-bars\"").dropFirst().first?.components(separatedBy: "</g>").first)
        #expect(Self.occurrences(of: "<rect ", in: bars) == 4)
        #expect(marks["explained-variance-plot"]?["polyline"] == 1)
        #expect(marks["pca-scatter-plot"]?["circle"] == extraction.photos.count)
        #expect(marks["label-counts-plot"]?["rect"] == 3)

        // Thresholds: the table says what the cumulative ratios of pca.h5 say.
        let pca = try output.readPCAModel()
        for threshold in ReportPage.varianceThresholds {
            let needed = ReportPage.componentsReaching(threshold, ratios: pca.explainedVarianceRatio)
            let cell = needed.map { "<td>\(Int(threshold * 100))%</td><td class=\"num\">\($0)</td>" }
                ?? "<td>\(Int(threshold * 100))%</td><td class=\"num\">more than 4"
            #expect(html.contains(cell), "\(threshold)")
        }
        #expect(html.contains(String(format: "PC 1 (%.1f%% of the variance)", pca.explainedVarianceRatio[0] * 100)))

        // Legend and counts per label; errors grouped by reason; every summary field.
        for label in ["Apple", "Banana", "Lemon"] {
            #expect(html.contains("<li data-label=\"\(label)\">"))
            #expect(html.contains("<tr><td>\(label)</td><td class=\"num\">3</td></tr>"))
        }
        let failures = try #require(try output.readFailedImages())
        #expect(Set(failures.map(\.path)) == Set(extraction.badFiles))
        for failure in failures {
            #expect(html.contains("<tr><td>\(ReportPage.escape(failure.reason))</td><td class=\"num\">1</td></tr>"))
            #expect(html.contains("<tr><td class=\"path\">\(ReportPage.escape(failure.path))</td>"))
        }
        let summary = try #require(try output.readSummary())
        #expect(html.contains("<code>weights.path</code></td><td>\(AnalysisFixture.weights.path)</td>"))
        #expect(html.contains("<code>weights.sha256</code></td><td>\(summary.weights.sha256)</td>"))
        #expect(html.contains("<code>images.failed</code></td><td>2</td>"))
        #expect(html.contains("<div class=\"value\">" + String(format: "%.1f", summary.imagesPerSecond) + "</div><div class=\"caption\">images per second</div>"))
        #expect(html.contains("<div class=\"value\">2</div><div class=\"caption\">images not usable</div>"))
        #expect(html.contains("Not evaluated yet"))

        // Once evaluated, the report shows the evaluation.
        let evaluation = try CrossValidation(neighbourCount: 1, foldCount: 3).evaluate(try output.readFeatures())
        try evaluation.write(to: output.evaluationFile)
        let evaluated = try ReportPage(folder: output).html()
        #expect(!evaluated.contains("Not evaluated yet"))
        #expect(evaluated.contains("id=\"confusion-matrix\""))
        #expect(evaluated.contains(String(format: "<strong>accuracy %.1f%%</strong>", evaluation.report.accuracy * 100)))
        for metrics in evaluation.report.perLabel {
            #expect(evaluated.contains("<tr><td>\(metrics.label)</td>" + String(format: "<td class=\"num\">%.3f</td>", metrics.precision)))
        }
    }

    @Test func escapesTextAndThinsLargeScatterPlots() throws {
        let labels = ["<b>bold</b>", "a & b", "\"quoted\"", "plain"]
        var generator = SeededGenerator(seed: 8)
        let rows = 200
        let table = try FeatureTable(
            paths: (0..<rows).map { "dir/<img \($0)>.jpg" }, labels: (0..<rows).map { labels[$0 % 4] }, featureCount: 3,
            values: (0..<(rows * 3)).map { _ in Float(generator.normal()) })
        let page = ReportPage(title: "t<i>", features: table, maximumScatterPoints: 50)
        let html = page.html()
        #expect(!html.contains("<b>bold</b>") && !html.contains("<img ") && !html.contains("t<i>"))
        #expect(html.contains("&lt;b&gt;bold&lt;/b&gt;") && html.contains("a &amp; b") && html.contains("&quot;quoted&quot;"))
        let scatter = try #require(Self.svgElements(html).first { $0.contains("id=\"pca-scatter-plot\"") })
        #expect(Self.occurrences(of: "<circle ", in: scatter) == 50)
        #expect(html.contains("50 of the 200 images"))
        // Without pca.h5 or a summary, there is no variance to show, and the page says so.
        #expect(html.contains("No explained variance"))
        #expect(Self.svgElements(html).count == 2)
        for svg in Self.svgElements(html) {
            #expect(XMLParser(data: Data(svg.utf8)).parse())
        }
        let one = ReportPage(title: "one", features: try FeatureTable(paths: ["a"], labels: ["x"], featureCount: 1, values: [2])).html()
        #expect(one.contains("one component only"))
    }

    @Test func labelColoursAreDistinctHexColours() {
        let colours = (0..<131).map(ReportCharts.colour)
        #expect(colours.allSatisfy { $0.count == 7 && $0.hasPrefix("#") })
        #expect(Set(colours.prefix(40)).count == 40)
        #expect(ReportCharts.hexColour(hue: 0, saturation: 1, lightness: 0.5) == "#ff0000")
        #expect(ReportCharts.hexColour(hue: 240, saturation: 1, lightness: 0.5) == "#0000ff")
        let unit = ReportCharts.ticks(from: 0, to: 1)
        #expect(unit.count == 6 && unit.first == 0 && abs((unit.last ?? 0) - 1) < 1e-12)
        #expect(ReportCharts.ticks(from: -3.7, to: 12.2) == [0, 5, 10])
        #expect(ReportCharts.ticks(from: -3.7, to: 4.2) == [-2, 0, 2, 4])
        #expect(ReportCharts.ticks(from: 0, to: 37) == [0, 10, 20, 30])
    }

    /// Renders the report in headless Chromium and checks the DOM and the screenshot (Scripts/check_report_screenshot.py).
    @Test(.enabled(if: PythonRunner.isAvailable && ChromiumCheck.chromium != nil))
    func rendersInHeadlessChromium() async throws {
        let directory = try await AnalysisFixture.extract(componentCount: 4).directory
        let output = try ExtractionRun(directory: directory)
        try CrossValidation(neighbourCount: 1, foldCount: 3).evaluate(try output.readFeatures()).write(to: output.evaluationFile)
        try ReportPage(folder: output).write(to: output.reportFile)
        let result = try ChromiumCheck.run(report: output.reportFile.path, labels: ["Apple", "Banana", "Lemon"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("report looks right"))

        // The check can fail: a page whose scatter plot lost its points does not pass.
        let html = try String(contentsOf: output.reportFile, encoding: .utf8)
        let broken = html.replacingOccurrences(of: "<circle class=\"l", with: "<ellipse class=\"l")
        let brokenURL = directory.appendingPathComponent("broken.html")
        try broken.write(to: brokenURL, atomically: true, encoding: .utf8)
        let failed = try ChromiumCheck.run(report: brokenURL.path, labels: ["Apple"])
        #expect(failed.status == 1)
        #expect(failed.output.contains("the scatter plot has no points"))
    }
}

/// Runs Scripts/check_report_screenshot.py with the configured Python.
enum ChromiumCheck {
    static let chromium: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    static func run(report: String, labels: [String]) throws -> PythonRunner.Result {
        let script = FixturePaths.root.deletingLastPathComponent().appendingPathComponent("Scripts/check_report_screenshot.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ProcessInfo.processInfo.environment["FRUITFEATURES_PYTHON"] ?? "python3")
        process.arguments = [script, report] + labels.flatMap { ["--expect-label", $0] }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return PythonRunner.Result(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }
}
