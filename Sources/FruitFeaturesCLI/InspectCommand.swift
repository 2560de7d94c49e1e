import ArgumentParser
import Foundation
import FruitFeatures

/// `fruitfeatures inspect`: what a weights file holds, like Keras's `model.summary()`.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show what a Keras weights file holds: layout, alpha, layers and parameter counts."
    )

    @Argument(help: "A Keras .h5 weights or model file.")
    var weightsFile: String

    func run() throws {
        let url = URL(fileURLWithPath: weightsFile)
        let file: KerasWeightsFile
        let weights: MobileNetV2Weights
        do {
            file = try KerasWeightsFile(contentsOf: url)
            weights = try file.mobileNetV2Weights()
        } catch {
            throw CLIFailure("\(error)", code: .fatal)
        }
        print(Self.summary(of: file, weights: weights, path: weightsFile), terminator: "")
    }

    /// The printed summary (kept apart from `run` so that its format reads in one place).
    static func summary(of file: KerasWeightsFile, weights: MobileNetV2Weights, path: String) -> String {
        var layout = file.hasKeras2WeightNames ? "Keras 2 HDF5 (weight names with ':0')" : "Keras 3 legacy HDF5"
        layout += file.container == .wholeModel ? ", whole model (model_weights)" : ", weights only"
        if let nested = file.nestedBackbone { layout += ", MobileNetV2 nested in layer '\(nested)'" }
        let architecture = weights.architecture
        let alpha = architecture.alpha.map { String($0) } ?? "custom widths"
        var lines = [
            "File:      \(path)",
            "Layout:    \(layout), \(file.layers.count) top-level layers with weights",
            "Model:     MobileNetV2, alpha \(alpha), \(architecture.blocks.count) inverted-residual blocks, \(architecture.lastChannels) features",
            "",
            pad("Layer", 28) + pad("Kernel", 20) + pad("Conv params", 14) + "BatchNorm params",
            String(repeating: "-", count: 78),
        ]
        var total = 0
        var trainable = 0
        for layer in weights.layers {
            let convolution = layer.kernel.count
            let batchNorm = 4 * layer.gamma.count
            total += convolution + batchNorm
            trainable += convolution + 2 * layer.gamma.count
            lines.append(
                pad(layer.name, 28) + pad(layer.kernelShape.map(String.init).joined(separator: "×"), 20)
                    + pad(grouped(convolution), 14) + grouped(batchNorm))
        }
        lines += [
            String(repeating: "-", count: 78),
            "Backbone parameters: \(grouped(total)) (trainable \(grouped(trainable)), non-trainable \(grouped(total - trainable)))",
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
