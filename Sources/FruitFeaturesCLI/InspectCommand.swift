import ArgumentParser
import Foundation
import FruitFeatures

/// `fruitfeatures inspect`: what a weights file holds, like Keras's `model.summary()`.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show what a Keras weights file holds: format, architecture, alpha, layers, parameter counts, input size."
    )

    @Argument(help: "A Keras weights or model file: .h5 (Keras 2 or legacy Keras 3), .weights.h5 or .keras.")
    var weightsFile: String

    func run() throws {
        let url = URL(fileURLWithPath: weightsFile)
        let text: String
        do {
            let file = try KerasWeightsFile(contentsOf: url)
            switch try file.backboneArchitecture() {
            case .mobileNetV2:
                text = Self.summary(of: file, weights: try file.mobileNetV2Weights(), path: weightsFile)
            case .mobileNetV3:
                text = Self.summary(of: file, weights: try file.mobileNetV3Weights(), path: weightsFile)
            }
        } catch {
            throw CLIFailure("\(error)", code: .fatal)
        }
        print(text, terminator: "")
    }

    /// One row of the layer table.
    private struct Row {
        let name: String
        let kernelShape: [Int]
        let convolutionParameters: Int
        let normParameters: Int
        /// Parameters a BatchNorm does not train (moving mean and variance).
        var frozen: Int { normParameters / 2 }
    }

    /// The printed summary of a MobileNetV2 file (kept apart from `run` so that its format reads in one place).
    static func summary(of file: KerasWeightsFile, weights: MobileNetV2Weights, path: String) -> String {
        var layout = file.formatDescription
        if let nested = file.nestedBackbone { layout += ", MobileNetV2 nested in layer '\(nested)'" }
        let architecture = weights.architecture
        let alpha = architecture.alpha.map { String($0) } ?? "custom widths"
        let rows = weights.layers.map {
            Row(name: $0.name, kernelShape: $0.kernelShape, convolutionParameters: $0.kernel.count, normParameters: 4 * $0.gamma.count)
        }
        return table(path: path, layout: "\(layout), \(file.layers.count) top-level layers with weights",
                     model: "MobileNetV2, alpha \(alpha), \(architecture.blocks.count) inverted-residual blocks, \(architecture.lastChannels) features",
                     rows: rows, file: file)
    }

    /// The printed summary of a MobileNetV3 file.
    static func summary(of file: KerasWeightsFile, weights: MobileNetV3Weights, path: String) -> String {
        var layout = file.formatDescription
        if let nested = file.nestedBackbone { layout += ", \(weights.architecture.variant.kerasName) nested in layer '\(nested)'" }
        let architecture = weights.architecture
        let alpha = architecture.alpha.map { String($0) } ?? "custom widths"
        func row(_ layer: MobileNetV3Weights.Convolution, _ name: String) -> Row {
            Row(name: name, kernelShape: layer.kernelShape, convolutionParameters: layer.kernel.count, normParameters: 4 * layer.gamma.count)
        }
        var rows = [row(weights.stem, "conv")]
        for (index, (block, spec)) in zip(weights.blocks, architecture.blocks).enumerated() {
            let prefix = index == 0 ? "expanded_conv_" : "expanded_conv_\(index)_"
            if let expand = block.expand { rows.append(row(expand, prefix + "expand")) }
            rows.append(row(block.depthwise, prefix + "depthwise"))
            if let se = block.squeezeExcite, let squeeze = spec.squeezeChannels {
                rows.append(Row(name: prefix + "squeeze_excite_conv", kernelShape: [1, 1, spec.expandedChannels, squeeze],
                                convolutionParameters: se.squeezeKernel.count + se.squeezeBias.count, normParameters: 0))
                rows.append(Row(name: prefix + "squeeze_excite_conv_1", kernelShape: [1, 1, squeeze, spec.expandedChannels],
                                convolutionParameters: se.exciteKernel.count + se.exciteBias.count, normParameters: 0))
            }
            rows.append(row(block.project, prefix + "project"))
        }
        rows.append(row(weights.head, "conv_1"))
        var model = "\(architecture.variant.kerasName)\(architecture.minimalistic ? " (minimalistic)" : ""), alpha \(alpha), "
        model += "\(architecture.blocks.count) inverted-residual blocks, \(architecture.lastChannels) features, "
        model += weights.rescalesInput ? "rescales its [0, 255] input itself" : "takes [-1, 1] input"
        return table(path: path, layout: "\(layout), \(file.layers.count) top-level layers with weights",
                     model: model, rows: rows, file: file)
    }

    private static func table(path: String, layout: String, model: String, rows: [Row], file: KerasWeightsFile) -> String {
        var lines = [
            "File:      \(path)",
            "Layout:    \(layout)",
            "Model:     \(model)",
            "",
            pad("Layer", 28) + pad("Kernel", 20) + pad("Conv params", 14) + "BatchNorm params",
            String(repeating: "-", count: 78),
        ]
        var total = 0
        var frozen = 0
        for row in rows {
            total += row.convolutionParameters + row.normParameters
            frozen += row.frozen
            lines.append(
                pad(row.name, 28) + pad(row.kernelShape.map(String.init).joined(separator: "×"), 20)
                    + pad(grouped(row.convolutionParameters), 14) + grouped(row.normParameters))
        }
        let size = file.config?.inputSize.map { "\($0.height)×\($0.width) (config.json)" }
            ?? "not recorded in the file (Keras builds its published weights for 224×224)"
        lines += [
            String(repeating: "-", count: 78),
            "Backbone parameters: \(grouped(total)) (trainable \(grouped(total - frozen)), non-trainable \(grouped(frozen)))",
            "Input size the file was built for: \(size); extract resizes to 224 unless --input-size says otherwise",
        ]
        return lines.map(DisplayText.escaped).joined(separator: "\n") + "\n"
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }

    private static func grouped(_ value: Int) -> String {
        let digits = Array(String(value))
        var result = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { result.append(",") }
            result.append(digit)
        }
        return result
    }
}
