import ArgumentParser
import Foundation
import FruitFeatures

/// Where one image's time goes: JPEG decoding, resizing, and each kind of network layer.
struct ProfileBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Milliseconds per image in decoding, resizing and each kind of MobileNetV2 layer, one thread."
    )

    @Option(help: "Keras .h5 weights (default: the alpha-1.0 fixture).")
    var weights: String = "Fixtures/weights/mobilenet_v2_1.0_224_random.h5"

    @Option(help: "Folder of JPEGs to decode and resize (default: the fixture photos).")
    var images: String = "Fixtures/images"

    @Option(help: "Images through the network (in batches of --batch-size, after one warm-up batch).")
    var count: Int = 128

    @Option(help: "Images per extractor call.")
    var batchSize: Int = 8

    @Option(help: "Execution plan: images per group in the grouped stage.")
    var groupSize: Int = MobileNetV2Extractor.ExecutionPlan.standard.groupSize

    func run() throws {
        BLASThreading.setThreadCount(1)
        LargeBufferReuse.enable()  // as extract does: a whole decoded photo reuses the last one's memory
        let plan = MobileNetV2Extractor.ExecutionPlan(
            bandFloats: MobileNetV2Extractor.ExecutionPlan.standard.bandFloats, groupSize: groupSize)
        let extractor = try MobileNetV2Extractor(weightsAt: URL(fileURLWithPath: weights), plan: plan)
        print("machine: \(cpuModel()), kernel level: \(KernelLevel.active.name), AVX2+FMA kernels: \(MobileNetV2Extractor.usesAVX2); load average \(loadAverage())")

        // Decode and resize: every JPEG under `images`, repeated until at least `count` images are timed.
        // Listed and read as `extract` lists and reads them (a problem entry or an unreadable file is skipped).
        let source = try DirectoryImageSource(root: images)
        let files: [[UInt8]] = source.compactMap { entry in
            guard case .image(let image) = entry else { return nil }
            return try? source.contents(of: image)
        }
        var decodeSeconds = 0.0, resizeSeconds = 0.0, decoded = 0
        var inputs: [Float] = []
        if !files.isEmpty {
            let decoder = JPEGDecoder()
            let resampler = BicubicResampler.mobileNetInput
            while decoded < count {
                for data in files where decoded < count {
                    let start = DispatchTime.now().uptimeNanoseconds
                    guard let image = try? decoder.decode(data, path: "benchmark") else { continue }
                    let middle = DispatchTime.now().uptimeNanoseconds
                    let resized = resampler.resize(image)
                    let end = DispatchTime.now().uptimeNanoseconds
                    decodeSeconds += Double(middle - start) / 1e9
                    resizeSeconds += Double(end - middle) / 1e9
                    decoded += 1
                    if inputs.count < batchSize * extractor.inputCount {
                        inputs += resized.bytes.map { KerasPreprocessor.scale($0) }
                    }
                }
            }
        }
        // The same images through the preprocessor's fused path: decoded in bands, each band resized as it comes.
        var fusedSeconds = 0.0, fused = 0
        if !files.isEmpty {
            let preprocessor = KerasPreprocessor()
            while fused < decoded {
                for data in files where fused < decoded {
                    let start = DispatchTime.now().uptimeNanoseconds
                    let result = data.withUnsafeBytes { try? preprocessor.resizedImage($0, path: "benchmark") }
                    fusedSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                    if result != nil { fused += 1 } else { break }
                }
                if fused == 0 { break }
            }
        }
        // The network on real photos when there are enough, else on random inputs.
        var generator = SplitMix64(seed: 7)
        while inputs.count < batchSize * extractor.inputCount {
            inputs.append(Float(generator.nextUnit() * 2 - 1))
        }
        var output = [Float](repeating: 0, count: batchSize * extractor.featureCount)
        var total = LayerProfile()
        let batches = max(1, count / batchSize)
        try inputs.withUnsafeBufferPointer { source in
            try output.withUnsafeMutableBufferPointer { destination in
                _ = try extractor.profile(batch: source, count: batchSize, into: destination)  // warm-up
                for _ in 0..<batches {
                    total += try extractor.profile(batch: source, count: batchSize, into: destination)
                }
            }
        }

        func milliseconds(_ duration: Duration) -> Double {
            let (seconds, attoseconds) = duration.components
            return (Double(seconds) + Double(attoseconds) / 1e18) * 1000 / Double(max(total.images, 1))
        }
        let network = milliseconds(total.total)
        let decode = decoded > 0 ? 1000 * decodeSeconds / Double(decoded) : 0
        let resize = decoded > 0 ? 1000 * resizeSeconds / Double(decoded) : 0
        let fusedMs = fused > 0 ? 1000 * fusedSeconds / Double(fused) : 0
        let all = network + (fused > 0 ? fusedMs : decode + resize)
        print("stage        ms/image   share")
        let rows: [(String, Double)] = [
            ("decode", decode), ("resize", resize), ("banded", fusedMs),
            ("stem", milliseconds(total.stem)),
            ("expand", milliseconds(total.expand)), ("depthwise", milliseconds(total.depthwise)),
            ("project", milliseconds(total.project)), ("head", milliseconds(total.head)),
        ]
        for (name, value) in rows {
            let padded = name.padding(toLength: 10, withPad: " ", startingAt: 0)
            print(padded + String(format: " %10.3f  %5.1f %%", value, 100 * value / max(all, 1e-9)))
        }
        print("total     " + String(format: " %10.3f          (%d decoded, %d through the network, batch %d, groups of %d)",
                                        all, decoded, total.images, batchSize, groupSize))
        print("banded: decode and resize together, in bands of rows (KerasPreprocessor's path; the total counts it "
                + "instead of decode + resize)")
        print("load average after: \(loadAverage())")
    }
}
