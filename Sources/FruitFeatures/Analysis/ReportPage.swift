import Foundation

/// The HTML report of an extract run: one self-contained file (inline CSS and SVG, no script, no network).
///
/// Sections: an overview; the explained variance per component and cumulative, with the components needed for
/// 90, 95 and 99 %; the images on the first two principal components coloured by label, with a legend; the
/// number of images per label; the nearest-neighbour evaluation when there is one; the images that could not be
/// used; the run's figures and settings from `summary.json`. The page holds no date, so the same inputs always
/// give the same bytes.
public struct ReportPage: Sendable {
    /// The page title (the output folder's name by default).
    public var title: String
    /// The PCA features of every image.
    public var features: FeatureTable
    /// The PCA model, for the explained variance (taken from the summary when absent).
    public var pca: PCAModel?
    /// The run summary.
    public var summary: ExtractionSummary?
    /// The images that could not be used; nil when unknown (no errors.csv).
    public var failedImages: [FailedImage]?
    /// The cross-validated evaluation, when `fruitfeatures evaluate` has run.
    public var evaluation: Evaluation?
    /// At most this many points are drawn in the scatter plot (evenly spread over the rows), to keep the file small.
    public var maximumScatterPoints: Int
    /// summary.json as plain JSON, when read from a file: the run table then shows every field it holds.
    var summaryFields: [String: SummaryValue]?

    /// The usual name of the page in an output folder.
    public static let fileName = "report.html"

    /// The cumulative shares of variance marked on the curve.
    public static let varianceThresholds = [0.90, 0.95, 0.99]

    /// Creates a page from what has been read.
    public init(
        title: String, features: FeatureTable, pca: PCAModel? = nil, summary: ExtractionSummary? = nil,
        failedImages: [FailedImage]? = nil, evaluation: Evaluation? = nil, maximumScatterPoints: Int = 5000
    ) {
        self.title = title
        self.features = features
        self.pca = pca
        self.summary = summary
        self.failedImages = failedImages
        self.evaluation = evaluation
        self.maximumScatterPoints = maximumScatterPoints
    }

    /// Reads everything the page shows from an output folder: features.csv and pca.h5 (required), summary.json,
    /// errors.csv and evaluation.json (each when present).
    ///
    /// - Throws: ``AnalysisError`` when a required file is missing or any file present is unreadable, or when the
    ///   features do not fit the PCA model.
    public init(folder: ExtractionRun, maximumScatterPoints: Int = 5000) throws(AnalysisError) {
        let features = try folder.readFeatures()
        let pca = try folder.readPCAModel()
        try ExtractionRun.checkConsistency(features: features, pca: pca, directory: folder.directory.path)
        let summary = try folder.readSummaryFields()
        self.init(
            title: folder.directory.standardizedFileURL.lastPathComponent, features: features, pca: pca,
            summary: summary?.summary, failedImages: try folder.readFailedImages(),
            evaluation: try folder.readEvaluation(), maximumScatterPoints: maximumScatterPoints)
        summaryFields = summary?.fields
    }

    /// Each component's share of the total variance, largest first: from the PCA model, else from the summary.
    public var explainedVarianceRatios: [Double]? {
        if let pca { return pca.explainedVarianceRatio }
        return summary?.pca.explainedVarianceRatio
    }

    /// The fewest components whose cumulative share of variance reaches `share`; nil when all of them do not.
    public static func componentsReaching(_ share: Double, ratios: [Double]) -> Int? {
        var cumulative = 0.0
        for (index, ratio) in ratios.enumerated() {
            cumulative += ratio
            if cumulative >= share - 1e-12 { return index + 1 }
        }
        return nil
    }

    /// Writes the page to `url` atomically.
    public func write(to url: URL) throws(AnalysisError) {
        try writeAtomically(Array(html().utf8), to: url.path, owner: .report)
    }

    /// The page.
    public func html() -> String {
        let labelCounts = features.labelCounts
        var page = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="generator" content="fruitfeatures \(fruitFeaturesVersion)">
            <title>FruitFeatures report: \(Self.escape(title))</title>
            <style>
            \(Self.styleSheet(labelCount: labelCounts.count))
            </style>
            </head>
            <body>
            <main>
            <header>
            <h1>FruitFeatures report</h1>
            <p class="subtitle">\(Self.escape(title)) · fruitfeatures \(fruitFeaturesVersion)</p>
            </header>

            """
        page += overviewSection(labelCount: labelCounts.count)
        page += varianceSection()
        page += scatterSection(labelCounts: labelCounts)
        page += labelSection(labelCounts: labelCounts)
        page += evaluationSection()
        page += errorSection()
        page += runSection()
        page += """
            <footer>Written by <code>fruitfeatures report</code>. Self-contained: nothing is fetched from the network.</footer>
            </main>
            </body>
            </html>

            """
        return page
    }

    // MARK: - Sections

    private func overviewSection(labelCount: Int) -> String {
        var cards: [(String, String, String)] = [
            ("images", "\(features.rowCount)", "images with features"),
            ("labels", "\(labelCount)", "labels"),
        ]
        if let failedImages { cards.append(("failed", "\(failedImages.count)", "images not usable")) }
        cards.append(("components", "\(features.featureCount)", "PCA components"))
        if let ratios = explainedVarianceRatios {
            cards.append(("variance", String(format: "%.1f%%", ratios.reduce(0, +) * 100), "of the variance kept"))
        }
        if let rate = summary?.imagesPerSecond, rate > 0 {
            cards.append(("throughput", String(format: "%.1f", rate), "images per second"))
        }
        if let accuracy = evaluation?.report.accuracy {
            cards.append(("accuracy", String(format: "%.1f%%", accuracy * 100), "k-NN accuracy (cross-validated)"))
        }
        var html = "<section id=\"overview\">\n<h2>Overview</h2>\n<div class=\"cards\">\n"
        for (id, value, caption) in cards {
            html += "<div class=\"card\" id=\"card-\(id)\"><div class=\"value\">\(Self.escape(value))</div><div class=\"caption\">\(Self.escape(caption))</div></div>\n"
        }
        return html + "</div>\n</section>\n"
    }

    private func varianceSection() -> String {
        var html = "<section id=\"variance\">\n<h2>Explained variance</h2>\n"
        guard let ratios = explainedVarianceRatios, !ratios.isEmpty else {
            return html + "<p class=\"missing\">No explained variance: pca.h5 and summary.json are both missing.</p>\n</section>\n"
        }
        html += "<p>How much of the variance of the 1280 MobileNetV2 features each of the \(ratios.count) principal components keeps, and how much the first components keep together.</p>\n"
        html += ReportCharts.explainedVariance(ratios: ratios, thresholds: Self.varianceThresholds) + "\n"
        html += "<table id=\"variance-thresholds\">\n<tr><th>share of variance</th><th>components needed</th></tr>\n"
        for threshold in Self.varianceThresholds {
            let needed = Self.componentsReaching(threshold, ratios: ratios).map(String.init)
                ?? String(format: "more than %d (these keep %.1f%%)", ratios.count, ratios.reduce(0, +) * 100)
            html += "<tr><td>\(Int(threshold * 100))%</td><td class=\"num\">\(needed)</td></tr>\n"
        }
        return html + "</table>\n</section>\n"
    }

    private func scatterSection(labelCounts: [(label: String, count: Int)]) -> String {
        var html = "<section id=\"scatter\">\n<h2>First two principal components</h2>\n"
        guard features.rowCount > 0 else { return html + "<p class=\"missing\">No images.</p>\n</section>\n" }
        var labelIndex: [String: Int] = [:]
        for (index, entry) in labelCounts.enumerated() { labelIndex[entry.label] = index }
        let n = features.rowCount
        let shown = min(n, max(maximumScatterPoints, 1))
        // Evenly spread rows; drawn in a seeded shuffled order so that no label is always painted on top.
        var rows = (0..<shown).map { $0 * n / shown }
        var generator = SplitMix64(seed: 1)
        rows.reproducibleShuffle(using: &generator)
        let hasSecond = features.featureCount >= 2
        let points = rows.map { row in
            let values = features.features(ofRow: row)
            return ReportCharts.Point(
                x: Double(values[values.startIndex]), y: hasSecond ? Double(values[values.startIndex + 1]) : 0,
                label: labelIndex[features.labels[row]] ?? 0, path: "\(features.paths[row]) (\(features.labels[row]))")
        }
        let ratios = explainedVarianceRatios
        func axisTitle(_ component: Int) -> String {
            guard let ratios, component < ratios.count else { return "PC \(component + 1)" }
            return String(format: "PC %d (%.1f%% of the variance)", component + 1, ratios[component] * 100)
        }
        if shown < n {
            html += "<p>\(shown) of the \(n) images, evenly spread over them.</p>\n"
        }
        if !hasSecond {
            html += "<p>The model keeps one component only: the images are drawn along it.</p>\n"
        }
        html += ReportCharts.scatter(points: points, xTitle: axisTitle(0), yTitle: hasSecond ? axisTitle(1) : "") + "\n"
        html += "<ul class=\"legend\" id=\"scatter-legend\">\n"
        for (index, entry) in labelCounts.enumerated() {
            html += "<li data-label=\"\(Self.escape(entry.label))\"><span class=\"swatch\" style=\"background:\(ReportCharts.colour(index))\"></span>\(Self.escape(entry.label)) <span class=\"count\">(\(entry.count))</span></li>\n"
        }
        return html + "</ul>\n</section>\n"
    }

    private func labelSection(labelCounts: [(label: String, count: Int)]) -> String {
        var html = "<section id=\"labels\">\n<h2>Images per label</h2>\n"
        guard !labelCounts.isEmpty else { return html + "<p class=\"missing\">No images.</p>\n</section>\n" }
        html += ReportCharts.labelCounts(labelCounts) + "\n"
        html += "<table id=\"label-counts\" class=\"compact\">\n<tr><th>label</th><th>images</th></tr>\n"
        for entry in labelCounts {
            html += "<tr><td>\(Self.escape(entry.label))</td><td class=\"num\">\(entry.count)</td></tr>\n"
        }
        return html + "</table>\n</section>\n"
    }

    private func evaluationSection() -> String {
        var html = "<section id=\"evaluation\">\n<h2>Nearest-neighbour evaluation</h2>\n"
        guard let evaluation else {
            return html + "<p class=\"missing\">Not evaluated yet: run <code>fruitfeatures evaluate OUT_DIR</code>, then <code>fruitfeatures report OUT_DIR</code> again.</p>\n</section>\n"
        }
        let report = evaluation.report
        let folds = evaluation.foldAccuracies.map { String(format: "%.1f%%", $0 * 100) }.joined(separator: ", ")
        html += "<p id=\"evaluation-summary\">\(evaluation.neighbourCount)-nearest-neighbour classification on the \(evaluation.featureCount) PCA features, stratified \(evaluation.foldCount)-fold cross-validation\(evaluation.seed.map { " (seed \($0))" } ?? ""): "
        html += String(format: "<strong>accuracy %.1f%%</strong>", report.accuracy * 100)
        html += " (\(evaluation.rowCount - evaluation.misclassified.count) of \(evaluation.rowCount)); per fold \(folds).</p>\n"
        html += "<table id=\"evaluation-metrics\">\n<tr><th>label</th><th>precision</th><th>recall</th><th>F1</th><th>images</th></tr>\n"
        func row(_ name: String, _ precision: Double, _ recall: Double, _ f1: Double, _ support: Int, _ css: String = "") -> String {
            "<tr\(css)><td>\(Self.escape(name))</td>" + [precision, recall, f1].map { String(format: "<td class=\"num\">%.3f</td>", $0) }.joined()
                + "<td class=\"num\">\(support)</td></tr>\n"
        }
        for metrics in report.perLabel {
            html += row(metrics.label, metrics.precision, metrics.recall, metrics.f1, metrics.support)
        }
        html += row("macro average", report.macroAverage.precision, report.macroAverage.recall, report.macroAverage.f1, report.sampleCount, " class=\"total\"")
        html += row("weighted average", report.weightedAverage.precision, report.weightedAverage.recall, report.weightedAverage.f1, report.sampleCount, " class=\"total\"")
        html += "</table>\n"
        if report.labels.count <= 30 {
            html += "<h3>Confusion matrix</h3>\n<p class=\"note\">Rows: true label; columns: predicted label.</p>\n<table id=\"confusion-matrix\" class=\"matrix\">\n<tr><th></th>"
            html += report.labels.map { "<th class=\"predicted\">\(Self.escape($0))</th>" }.joined() + "</tr>\n"
            for (t, label) in report.labels.enumerated() {
                let rowTotal = max(report.confusionMatrix[t].reduce(0, +), 1)
                html += "<tr><th>\(Self.escape(label))</th>"
                for (p, count) in report.confusionMatrix[t].enumerated() {
                    let share = Double(count) / Double(rowTotal)
                    let hue = t == p ? "78,121,167" : "225,87,89"
                    html += "<td class=\"num\" style=\"background:rgba(\(hue),\(String(format: "%.2f", share * 0.85)))\">\(count)</td>"
                }
                html += "</tr>\n"
            }
            html += "</table>\n"
        } else {
            html += "<h3>Most frequent confusions</h3>\n<table id=\"confusions\">\n<tr><th>true label</th><th>predicted</th><th>images</th></tr>\n"
            for confusion in report.confusions(limit: 20) {
                html += "<tr><td>\(Self.escape(confusion.label))</td><td>\(Self.escape(confusion.predicted))</td><td class=\"num\">\(confusion.count)</td></tr>\n"
            }
            html += "</table>\n"
        }
        if !evaluation.misclassified.isEmpty {
            html += "<h3>Misclassified images</h3>\n<table id=\"misclassified\" class=\"compact\">\n<tr><th>image</th><th>label</th><th>predicted</th></tr>\n"
            for mistake in evaluation.misclassified.prefix(20) {
                html += "<tr><td class=\"path\">\(Self.escape(mistake.path))</td><td>\(Self.escape(mistake.label))</td><td>\(Self.escape(mistake.predicted))</td></tr>\n"
            }
            html += "</table>\n"
            if evaluation.misclassified.count > 20 {
                html += "<p class=\"note\">and \(evaluation.misclassified.count - 20) more (all are in evaluation.json).</p>\n"
            }
        }
        for note in evaluation.notes {
            html += "<p class=\"note\">Note: \(Self.escape(note)).</p>\n"
        }
        return html + "</section>\n"
    }

    private func errorSection() -> String {
        var html = "<section id=\"errors\">\n<h2>Images that could not be used</h2>\n"
        guard let failedImages else {
            return html + "<p class=\"missing\">No errors.csv in the output folder.</p>\n</section>\n"
        }
        guard !failedImages.isEmpty else { return html + "<p id=\"no-errors\">None: every image was used.</p>\n</section>\n" }
        var counts: [String: Int] = [:]
        for failure in failedImages { counts[failure.reason, default: 0] += 1 }
        let reasons = counts.sorted { a, b in a.value != b.value ? a.value > b.value : a.key < b.key }
        html += "<p>\(failedImages.count) image\(failedImages.count == 1 ? "" : "s") skipped, for \(reasons.count) reason\(reasons.count == 1 ? "" : "s").</p>\n"
        html += "<table id=\"error-reasons\">\n<tr><th>reason</th><th>images</th></tr>\n"
        for (reason, count) in reasons {
            html += "<tr><td>\(Self.escape(reason))</td><td class=\"num\">\(count)</td></tr>\n"
        }
        html += "</table>\n<h3>Files</h3>\n<table id=\"error-files\" class=\"compact\">\n<tr><th>file</th><th>reason</th></tr>\n"
        for failure in failedImages.prefix(50) {
            html += "<tr><td class=\"path\">\(Self.escape(failure.path))</td><td>\(Self.escape(failure.reason))</td></tr>\n"
        }
        html += "</table>\n"
        if failedImages.count > 50 {
            html += "<p class=\"note\">and \(failedImages.count - 50) more (all are in errors.csv).</p>\n"
        }
        return html + "</section>\n"
    }

    private func runSection() -> String {
        var html = "<section id=\"run\">\n<h2>Run</h2>\n"
        guard let summary else { return html + "<p class=\"missing\">No summary.json in the output folder.</p>\n</section>\n" }
        html += "<p>Everything summary.json records: counts, speed, time per stage, weights and settings.</p>\n"
        html += "<table id=\"run-settings\" class=\"compact\">\n<tr><th>field</th><th>value</th></tr>\n"
        for field in SummaryValue.flattenedFields(of: summaryFields ?? Self.jsonFields(of: summary)) {
            html += "<tr><td><code>\(Self.escape(field.key))</code></td><td>\(Self.escape(field.value))</td></tr>\n"
        }
        return html + "</table>\n</section>\n"
    }

    /// The summary as the extract command writes it (snake_case keys), as plain JSON.
    static func jsonFields(of summary: ExtractionSummary) -> [String: SummaryValue] {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        guard let data = try? encoder.encode(summary),
              let fields = try? JSONDecoder().decode([String: SummaryValue].self, from: data) else { return [:] }
        return fields
    }

    // MARK: - Text

    /// Text made safe for HTML element content and attribute values.
    public static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default:
                // Control characters (a newline in a file name) would break the layout or the XML of the SVG.
                if character.value < 0x20 || character.value == 0x7F {
                    escaped += "\u{FFFD}"
                } else {
                    escaped.unicodeScalars.append(character)
                }
            }
        }
        return escaped
    }

    private static func styleSheet(labelCount: Int) -> String {
        var css = """
            :root { color-scheme: light; }
            body { margin: 0; background: #f4f5f7; color: #1d2430; font: 15px/1.45 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; }
            main { max-width: 840px; margin: 0 auto; padding: 20px 16px 40px; }
            h1 { margin: 8px 0 0; font-size: 28px; }
            h2 { margin: 0 0 10px; font-size: 20px; }
            h3 { margin: 18px 0 6px; font-size: 16px; }
            .subtitle { margin: 2px 0 0; color: #5b6575; }
            section { background: #fff; border-radius: 10px; box-shadow: 0 1px 3px rgba(0,0,0,.08); padding: 16px 20px; margin: 16px 0; overflow-x: auto; }
            .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); gap: 10px; }
            .card { background: #f4f6fa; border-radius: 8px; padding: 10px 12px; }
            .card .value { font-size: 24px; font-weight: 700; }
            .card .caption { color: #5b6575; font-size: 13px; }
            svg.chart { display: block; max-width: 100%; height: auto; margin: 8px 0; }
            svg text { font: 12px "DejaVu Sans", "Liberation Sans", Arial, sans-serif; fill: #333; }
            svg .panel-title, svg .axis-title { font-size: 13px; font-weight: 700; }
            .grid { stroke: #e3e6eb; stroke-width: 1; }
            .baseline { stroke: #666; stroke-width: 1; }
            .frame { fill: none; stroke: #aab; }
            #variance-bars rect { fill: #4e79a7; }
            .curve { fill: none; stroke: #e15759; stroke-width: 2.5; }
            .threshold { stroke: #777; stroke-dasharray: 5 4; }
            .threshold-mark { stroke: #999; stroke-dasharray: 2 3; }
            .threshold-point { fill: #e15759; }
            .threshold-label { font-weight: 700; }
            .caption-box { fill: #fff; fill-opacity: 0.92; stroke: #ccd; }
            .threshold-label.missed { fill: #a33; }
            #scatter-points circle { stroke: #fff; stroke-width: 0.7; }
            .legend { list-style: none; padding: 0; margin: 6px 0 0; display: flex; flex-wrap: wrap; gap: 4px 18px; }
            .swatch { display: inline-block; width: 12px; height: 12px; border-radius: 50%; margin-right: 6px; vertical-align: -1px; }
            .count { color: #5b6575; }
            table { border-collapse: collapse; margin: 8px 0; }
            th, td { padding: 4px 10px; text-align: left; border-bottom: 1px solid #eceef2; vertical-align: top; }
            th { font-weight: 700; }
            td.num { text-align: right; font-variant-numeric: tabular-nums; }
            td.path { word-break: break-all; font-family: "DejaVu Sans Mono", monospace; font-size: 13px; }
            tr.total td { font-weight: 700; }
            table.matrix td, table.matrix th { border: 1px solid #e0e3e8; text-align: center; }
            .missing, .note { color: #5b6575; }
            code { font-family: "DejaVu Sans Mono", monospace; font-size: 13px; }
            footer { color: #5b6575; font-size: 13px; margin-top: 16px; }

            """
        for index in 0..<labelCount {
            css += ".l\(index) { fill: \(ReportCharts.colour(index)); }\n"
        }
        return css
    }
}
