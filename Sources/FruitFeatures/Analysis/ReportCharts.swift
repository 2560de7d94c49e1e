import Foundation

/// The SVG charts of the report, drawn by hand: no script, no external file, one `<svg>` element each.
enum ReportCharts {
    /// Label colours: Tableau 10, then hues a golden angle apart; always `#rrggbb` so the screenshot check can find them.
    static func colour(_ index: Int) -> String {
        let tableau = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                       "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]
        if index < tableau.count { return tableau[index] }
        let hue = (Double(index - tableau.count) * 137.508).truncatingRemainder(dividingBy: 360)
        let lightness = [0.45, 0.6, 0.35][index % 3]
        return hexColour(hue: hue, saturation: 0.65, lightness: lightness)
    }

    /// HSL (hue in degrees, saturation and lightness in 0…1) as `#rrggbb`.
    static func hexColour(hue: Double, saturation: Double, lightness: Double) -> String {
        let chroma = (1 - abs(2 * lightness - 1)) * saturation
        let sector = hue / 60
        let x = chroma * (1 - abs(sector.truncatingRemainder(dividingBy: 2) - 1))
        let (r, g, b): (Double, Double, Double)
        switch Int(sector) {
        case 0: (r, g, b) = (chroma, x, 0)
        case 1: (r, g, b) = (x, chroma, 0)
        case 2: (r, g, b) = (0, chroma, x)
        case 3: (r, g, b) = (0, x, chroma)
        case 4: (r, g, b) = (x, 0, chroma)
        default: (r, g, b) = (chroma, 0, x)
        }
        let m = lightness - chroma / 2
        func byte(_ value: Double) -> Int { min(255, max(0, Int(((value + m) * 255).rounded()))) }
        return String(format: "#%02x%02x%02x", byte(r), byte(g), byte(b))
    }

    /// About `count` round tick values (1, 2 or 5 × 10ⁿ apart) covering `low…high`.
    static func ticks(from low: Double, to high: Double, count: Int = 5) -> [Double] {
        guard high > low, low.isFinite, high.isFinite else { return [low] }
        let rough = (high - low) / Double(max(count, 1))
        let magnitude = pow(10, floor(log10(rough)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
        // Multiples of the step, each computed afresh so that rounding does not accumulate.
        let first = ceil(low / step - 1e-9)
        let last = floor(high / step + 1e-9)
        guard last >= first else { return [low] }
        return (0...Int(last - first)).map { (first + Double($0)) * step }.map { abs($0) < step * 1e-9 ? 0 : $0 }
    }

    /// A tick value as text, with as many decimals as the step needs.
    static func tickText(_ value: Double, step: Double, suffix: String = "") -> String {
        // A step that is not a positive finite number (from values no chart should get) draws no decimals.
        let decimals = !(step.isFinite && step > 0) || step >= 1 ? 0 : min(6, Int(ceil(-log10(step) - 1e-9)))
        return String(format: "%.\(decimals)f", value) + suffix
    }

    /// A number for an SVG attribute: two decimals are plenty on screen.
    static func coordinate(_ value: Double) -> String { String(format: "%.2f", value) }

    // MARK: - Explained variance

    /// Per-component explained variance (bars) above the cumulative curve with the 90, 95 and 99 % marks.
    ///
    /// - Parameter ratios: each component's share of the total variance, largest first. Values outside [0, 1]
    ///   (which ``PCAModel/init(contentsOf:)`` refuses, but a model built in memory may hold) are drawn clamped.
    static func explainedVariance(ratios: [Double], thresholds: [Double]) -> String {
        let ratios = ratios.map { $0.isFinite ? min(max($0, 0), 1) : 0 }
        let width = 760.0
        let left = 64.0, right = 24.0
        let plotWidth = width - left - right
        let barTop = 36.0, barHeight = 170.0
        let curveTop = barTop + barHeight + 70, curveHeight = 220.0
        let height = curveTop + curveHeight + 52
        let k = ratios.count
        let slot = plotWidth / Double(max(k, 1))
        func x(_ component: Int) -> Double { left + (Double(component) + 0.5) * slot }   // component is 0-based

        var svg = """
            <svg id="explained-variance-plot" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(Int(width)) \(Int(height))" width="\(Int(width))" height="\(Int(height))" role="img" aria-label="Explained variance per principal component and cumulative">

            """
        // Top panel: share of variance per component.
        let maxRatio = max(ratios.max() ?? 0, 1e-12) * 100
        let barTicks = ticks(from: 0, to: maxRatio)
        let barScale = barHeight / max(barTicks.last ?? maxRatio, maxRatio)
        let barStep = barTicks.count > 1 ? barTicks[1] - barTicks[0] : maxRatio
        svg += "<text class=\"panel-title\" x=\"\(Int(left))\" y=\"\(Int(barTop - 14))\">Share of variance per component</text>\n"
        svg += axisY(ticks: barTicks, left: left, width: plotWidth, bottom: barTop + barHeight, scale: barScale, step: barStep, suffix: "%")
        svg += "<g id=\"variance-bars\" class=\"bars\">\n"
        let barWidth = max(slot * 0.8, 0.6)
        for (component, ratio) in ratios.enumerated() {
            let h = ratio * 100 * barScale
            svg += "<rect x=\"\(coordinate(x(component) - barWidth / 2))\" y=\"\(coordinate(barTop + barHeight - h))\" width=\"\(coordinate(barWidth))\" height=\"\(coordinate(h))\"><title>PC \(component + 1): \(String(format: "%.3f", ratio * 100))%</title></rect>\n"
        }
        svg += "</g>\n"
        svg += axisX(components: k, x: x, bottom: barTop + barHeight, left: left, width: plotWidth)

        // Bottom panel: cumulative share with the thresholds.
        var cumulative: [Double] = []
        var running = 0.0
        for ratio in ratios {
            running += ratio
            cumulative.append(running * 100)
        }
        let curveTicks = [0.0, 20, 40, 60, 80, 100]
        let curveScale = curveHeight / 100
        svg += "<text class=\"panel-title\" x=\"\(Int(left))\" y=\"\(Int(curveTop - 14))\">Cumulative share of variance</text>\n"
        svg += axisY(ticks: curveTicks, left: left, width: plotWidth, bottom: curveTop + curveHeight, scale: curveScale, step: 20, suffix: "%")
        // Dashed lines at the thresholds, a dot where the curve reaches each; the words go in a box at the lower
        // right (below the concave curve), where labels of nearby thresholds cannot overlap.
        var captions: [(text: String, missed: Bool)] = []
        for threshold in thresholds {
            let y = curveTop + curveHeight - threshold * 100 * curveScale
            let percent = Int((threshold * 100).rounded())
            svg += "<line class=\"threshold\" x1=\"\(Int(left))\" x2=\"\(Int(left + plotWidth))\" y1=\"\(coordinate(y))\" y2=\"\(coordinate(y))\"/>\n"
            if let reached = cumulative.firstIndex(where: { $0 >= threshold * 100 - 1e-9 }) {
                let onCurve = curveTop + curveHeight - cumulative[reached] * curveScale
                svg += "<line class=\"threshold-mark\" x1=\"\(coordinate(x(reached)))\" x2=\"\(coordinate(x(reached)))\" y1=\"\(coordinate(onCurve))\" y2=\"\(coordinate(curveTop + curveHeight))\"/>\n"
                svg += "<circle class=\"threshold-point\" cx=\"\(coordinate(x(reached)))\" cy=\"\(coordinate(onCurve))\" r=\"4\"/>\n"
                captions.append(("\(percent)% of the variance: \(reached + 1) component\(reached == 0 ? "" : "s")", false))
            } else {
                captions.append(("\(percent)% of the variance: not reached with \(k)", true))
            }
        }
        let boxWidth = 280.0
        let boxHeight = Double(captions.count) * 18 + 10
        let boxLeft = left + plotWidth - boxWidth - 8
        let boxTop = curveTop + curveHeight - boxHeight - 8
        svg += "<g id=\"variance-thresholds-legend\">\n<rect class=\"caption-box\" x=\"\(coordinate(boxLeft))\" y=\"\(coordinate(boxTop))\" width=\"\(Int(boxWidth))\" height=\"\(Int(boxHeight))\" rx=\"4\"/>\n"
        for (index, caption) in captions.enumerated() {
            svg += "<text class=\"threshold-label\(caption.missed ? " missed" : "")\" x=\"\(coordinate(boxLeft + 10))\" y=\"\(coordinate(boxTop + 19 + Double(index) * 18))\">\(caption.text)</text>\n"
        }
        svg += "</g>\n"
        let points = cumulative.enumerated().map { "\(coordinate(x($0.offset))),\(coordinate(curveTop + curveHeight - $0.element * curveScale))" }
        svg += "<polyline id=\"cumulative-variance\" class=\"curve\" points=\"\(coordinate(left)),\(coordinate(curveTop + curveHeight)) \(points.joined(separator: " "))\"/>\n"
        svg += axisX(components: k, x: x, bottom: curveTop + curveHeight, left: left, width: plotWidth)
        svg += "<text class=\"axis-title\" x=\"\(coordinate(left + plotWidth / 2))\" y=\"\(Int(height - 8))\" text-anchor=\"middle\">principal component</text>\n"
        svg += "</svg>"
        return svg
    }

    private static func axisY(ticks: [Double], left: Double, width: Double, bottom: Double, scale: Double, step: Double, suffix: String) -> String {
        var svg = "<g class=\"axis\">\n"
        for tick in ticks {
            let y = bottom - tick * scale
            svg += "<line class=\"grid\" x1=\"\(Int(left))\" x2=\"\(Int(left + width))\" y1=\"\(coordinate(y))\" y2=\"\(coordinate(y))\"/>"
            svg += "<text x=\"\(Int(left - 6))\" y=\"\(coordinate(y + 4))\" text-anchor=\"end\">\(tickText(tick, step: step, suffix: suffix))</text>\n"
        }
        svg += "<line class=\"baseline\" x1=\"\(Int(left))\" x2=\"\(Int(left))\" y1=\"\(coordinate(bottom - (ticks.last ?? 0) * scale))\" y2=\"\(coordinate(bottom))\"/>\n"
        return svg + "</g>\n"
    }

    private static func axisX(components k: Int, x: (Int) -> Double, bottom: Double, left: Double, width: Double) -> String {
        var svg = "<g class=\"axis\">\n<line class=\"baseline\" x1=\"\(Int(left))\" x2=\"\(Int(left + width))\" y1=\"\(coordinate(bottom))\" y2=\"\(coordinate(bottom))\"/>\n"
        let labelled = Set(ticks(from: 1, to: Double(k), count: 8).map { Int($0) }.filter { $0 >= 1 && $0 <= k } + [1, k])
        for component in labelled.sorted() {
            svg += "<text x=\"\(coordinate(x(component - 1)))\" y=\"\(coordinate(bottom + 16))\" text-anchor=\"middle\">\(component)</text>\n"
        }
        return svg + "</g>\n"
    }

    // MARK: - Scatter

    /// One point of the scatter plot.
    struct Point {
        var x: Double
        var y: Double
        var label: Int
        var path: String
    }

    /// The points on the first two principal components, coloured by label (colour classes `l0`, `l1`, …).
    static func scatter(points: [Point], xTitle: String, yTitle: String) -> String {
        let width = 760.0, height = 560.0
        let left = 64.0, right = 20.0, top = 20.0, bottom = 52.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let xs = points.map(\.x), ys = points.map(\.y)
        func range(_ values: [Double]) -> (Double, Double) {
            guard let low = values.min(), let high = values.max() else { return (-1, 1) }
            let pad = max((high - low) * 0.05, 1e-6)
            return (low - pad, high + pad)
        }
        let (xLow, xHigh) = range(xs)
        let (yLow, yHigh) = range(ys)
        func px(_ value: Double) -> Double { left + (value - xLow) / (xHigh - xLow) * plotWidth }
        func py(_ value: Double) -> Double { top + plotHeight - (value - yLow) / (yHigh - yLow) * plotHeight }

        var svg = """
            <svg id="pca-scatter-plot" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(Int(width)) \(Int(height))" width="\(Int(width))" height="\(Int(height))" role="img" aria-label="Images on the first two principal components, coloured by label">

            """
        svg += "<g class=\"axis\">\n"
        let xTicks = ticks(from: xLow, to: xHigh)
        let xStep = xTicks.count > 1 ? xTicks[1] - xTicks[0] : 1
        for tick in xTicks {
            svg += "<line class=\"grid\" x1=\"\(coordinate(px(tick)))\" x2=\"\(coordinate(px(tick)))\" y1=\"\(Int(top))\" y2=\"\(Int(top + plotHeight))\"/>"
            svg += "<text x=\"\(coordinate(px(tick)))\" y=\"\(Int(top + plotHeight + 16))\" text-anchor=\"middle\">\(tickText(tick, step: xStep))</text>\n"
        }
        let yTicks = ticks(from: yLow, to: yHigh)
        let yStep = yTicks.count > 1 ? yTicks[1] - yTicks[0] : 1
        for tick in yTicks {
            svg += "<line class=\"grid\" x1=\"\(Int(left))\" x2=\"\(Int(left + plotWidth))\" y1=\"\(coordinate(py(tick)))\" y2=\"\(coordinate(py(tick)))\"/>"
            svg += "<text x=\"\(Int(left - 6))\" y=\"\(coordinate(py(tick) + 4))\" text-anchor=\"end\">\(tickText(tick, step: yStep))</text>\n"
        }
        svg += "<rect class=\"frame\" x=\"\(Int(left))\" y=\"\(Int(top))\" width=\"\(Int(plotWidth))\" height=\"\(Int(plotHeight))\"/>\n</g>\n"
        svg += "<g id=\"scatter-points\">\n"
        for point in points {
            svg += "<circle class=\"l\(point.label)\" cx=\"\(coordinate(px(point.x)))\" cy=\"\(coordinate(py(point.y)))\" r=\"4\"><title>\(ReportPage.escape(point.path))</title></circle>\n"
        }
        svg += "</g>\n"
        svg += "<text class=\"axis-title\" x=\"\(coordinate(left + plotWidth / 2))\" y=\"\(Int(height - 10))\" text-anchor=\"middle\">\(ReportPage.escape(xTitle))</text>\n"
        svg += "<text class=\"axis-title\" transform=\"translate(16 \(coordinate(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\">\(ReportPage.escape(yTitle))</text>\n"
        svg += "</svg>"
        return svg
    }

    // MARK: - Counts per label

    /// A horizontal bar per label with its name and count.
    static func labelCounts(_ counts: [(label: String, count: Int)]) -> String {
        let rowHeight = 24.0
        let nameWidth = min(260.0, max(80.0, Double(counts.map(\.label.count).max() ?? 0) * 7.5 + 12))
        let width = 760.0
        let barSpace = width - nameWidth - 70
        let height = Double(counts.count) * rowHeight + 12
        let maximum = Double(max(counts.map(\.count).max() ?? 1, 1))
        var svg = """
            <svg id="label-counts-plot" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(Int(width)) \(Int(height))" width="\(Int(width))" height="\(Int(height))" role="img" aria-label="Images per label">

            """
        for (index, entry) in counts.enumerated() {
            let y = 6 + Double(index) * rowHeight
            let barWidth = max(Double(entry.count) / maximum * barSpace, entry.count > 0 ? 1 : 0)
            svg += "<text class=\"bar-name\" x=\"\(coordinate(nameWidth - 8))\" y=\"\(coordinate(y + 16))\" text-anchor=\"end\">\(ReportPage.escape(entry.label))</text>"
            svg += "<rect class=\"l\(index)\" x=\"\(coordinate(nameWidth))\" y=\"\(coordinate(y + 3))\" width=\"\(coordinate(barWidth))\" height=\"\(coordinate(rowHeight - 6))\"/>"
            svg += "<text class=\"bar-value\" x=\"\(coordinate(nameWidth + barWidth + 6))\" y=\"\(coordinate(y + 16))\">\(entry.count)</text>\n"
        }
        svg += "</svg>"
        return svg
    }
}
