import ArgumentParser
import CKernels
import Foundation
import FruitFeatures

/// Speed and memory figures for FruitFeatures' stages (printed, never asserted).
@main
struct Benchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fruitfeatures-benchmark",
        abstract: "Measures FruitFeatures' stages on this machine.",
        subcommands: [ExtractorBenchmark.self, ProfileBenchmark.self, DepthwiseBenchmark.self]
    )
}

/// Images per second of the network alone (`MobileNetV2Extractor` or `MobileNetV3Extractor`, whichever the
/// weights file holds), on random preprocessed images or on `--inputs`.
struct ExtractorBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extractor",
        abstract: "Images/s of the extractor (MobileNetV2 or V3, as the weights file holds) at several batch sizes and worker counts, and peak memory."
    )

    @Option(help: "Keras weights of a MobileNetV2 or MobileNetV3 (.h5, .weights.h5, .keras; default: the MobileNetV2 alpha-1.0 fixture).")
    var weights: String = "Fixtures/weights/mobilenet_v2_1.0_224_random.h5"

    @Option(help: "Comma-separated batch sizes.")
    var batchSizes: String = "1,8,32"

    @Option(help: "Comma-separated worker counts (concurrent callers, each with its own batches).")
    var workers: String = "1,2"

    @Option(help: "Comma-separated OpenBLAS threading modes: 'single' (1 thread per call) and/or 'threaded' (all cores). The extractor itself calls no BLAS; the modes matter for comparing with revisions that did.")
    var blas: String = "single"

    @Option(help: "Images to time per configuration (after one warm-up batch per worker).")
    var images: Int = 192

    @Option(help: "Execution plan: floats of expanded rows per band in the first stage (MobileNetV2 only).")
    var bandFloats: Int = MobileNetV2Extractor.ExecutionPlan.standard.bandFloats

    @Option(help: "Execution plan: images per group in the grouped stage.")
    var groupSize: Int = MobileNetV2Extractor.ExecutionPlan.standard.groupSize

    @Option(help: "Repeat the whole table this many times (figures vary with other load on the machine).")
    var rounds: Int = 1

    @Option(help: ArgumentHelp(
        "Time these preprocessed images instead of random ones: raw little-endian float32, N×224×224×3.",
        discussion: "Each configuration then times all N images once (workers take whole batches in turn; "
            + "--images is ignored). The file is memory-mapped, so its pages count in the peak RSS column."))
    var inputs: String?

    @Option(help: "With --inputs: first write the features of every input image here (raw float32, N×features).")
    var featuresOutput: String?

    func validate() throws {
        if featuresOutput != nil, inputs == nil { throw ValidationError("--features-output needs --inputs") }
    }

    func run() throws {
        let url = URL(fileURLWithPath: weights)
        let loadStart = Date()
        let plan = MobileNetV2Extractor.ExecutionPlan(bandFloats: bandFloats, groupSize: groupSize)
        let extractor: any FeatureNetwork
        let network: String
        let alpha: Double?
        let weightsFile = try KerasWeightsFile(contentsOf: url)
        switch try weightsFile.backboneArchitecture() {
        case .mobileNetV2:
            let v2 = try MobileNetV2Extractor(weights: try weightsFile.mobileNetV2Weights(), plan: plan, source: weights)
            (extractor, network, alpha) = (v2, "MobileNetV2", v2.architecture.alpha)
        case .mobileNetV3:
            let v3 = try MobileNetV3Extractor(weights: try weightsFile.mobileNetV3Weights(), groupSize: groupSize, source: weights)
            (extractor, network, alpha) = (v3, MobileNetV3FeatureModel.architectureName(v3.architecture), v3.architecture.alpha)
        }
        let loadSeconds = Date().timeIntervalSince(loadStart)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let defaultBLASThreads = BLASThreading.threadCount
        print("machine: \(cpuModel()), \(cores) cores, kernel level: \(KernelLevel.active.name), AVX2+FMA kernels: \(MobileNetV2Extractor.usesAVX2)")
        print("OpenBLAS: \(BLASThreading.configuration), default threads \(defaultBLASThreads)")
        print("weights: \(weights) (\(network), alpha \(alpha.map { String($0) } ?? "custom"), "
              + "\(extractor.featureCount) features), loaded in \(String(format: "%.2f", loadSeconds)) s")
        print("plan: \(network == "MobileNetV2" ? "\(bandFloats) floats per band, " : "")groups of \(groupSize); peak RSS after loading: \(peakResidentMegabytes()) MB")
        print("")
        let file = try inputs.map { try InputFile(path: $0, imageFloats: extractor.inputCount) }
        if let file {
            print("inputs: \(file.count) images from \(file.path)")
            if let featuresOutput { try writeFeatures(extractor, of: file, to: featuresOutput) }
        }
        print("load average before: \(loadAverage())")
        print("workers  batch  blas       images/s   ms/image/worker   CPU ms/image   peak RSS MB")

        let batchSizes = self.batchSizes.split(separator: ",").compactMap { Int($0) }
        let workerCounts = self.workers.split(separator: ",").compactMap { Int($0) }
        let blasModes = self.blas.split(separator: ",").map(String.init)
        let configurations = blasModes.flatMap { mode in
            workerCounts.flatMap { workers in batchSizes.map { (mode, workers, $0) } }
        }
        for _ in 0..<rounds {
            for (mode, workerCount, batch) in configurations {
                BLASThreading.setThreadCount(mode == "single" ? 1 : max(defaultBLASThreads, cores))
                resetPeakResident()
                let (rate, cpu) = if let file {
                    measure(extractor, file: file, batch: batch, workers: workerCount)
                } else {
                    measure(extractor, batch: batch, workers: workerCount)
                }
                print(String(format: "%7d  %5d  %-9@  %9.1f   %15.2f   %12.2f   %11d", workerCount, batch,
                             mode as NSString, rate, 1000.0 * Double(workerCount) / rate, cpu,
                             peakResidentMegabytes()))
            }
        }
        print("load average after: \(loadAverage())")
    }

    /// Runs `workers` concurrent callers over batches of `batch` random images; returns images/s
    /// (wall clock) and process CPU milliseconds per image (less sensitive to other load on the machine).
    private func measure(_ extractor: any FeatureNetwork, batch: Int, workers: Int) -> (Double, Double) {
        let perImage = extractor.inputCount
        var generator = SplitMix64(seed: 42)
        let input = (0..<(batch * perImage)).map { _ in Float(generator.nextUnit() * 2 - 1) }
        let batchesPerWorker = max(1, (images + batch * workers - 1) / (batch * workers))
        // Warm up: scratch memory for every worker, caches, BLAS buffers.
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            run(extractor, input: input, batch: batch, times: 1)
        }
        let cpuStart = processCPUSeconds()
        let start = DispatchTime.now().uptimeNanoseconds
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            run(extractor, input: input, batch: batch, times: batchesPerWorker)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let count = Double(batchesPerWorker * batch * workers)
        return (count / seconds, 1000 * (processCPUSeconds() - cpuStart) / count)
    }

    /// Like `measure(_:batch:workers:)` on the images of `file`: worker `w` computes batches `w`, `w + workers`, …
    /// (the last one may be short), after each worker warmed up on one batch.
    private func measure(_ extractor: any FeatureNetwork, file: InputFile, batch: Int, workers: Int) -> (Double, Double) {
        let batches = (file.count + batch - 1) / batch
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            run(extractor, file: file, batches: [worker % batches][...], batch: batch)
        }
        let cpuStart = processCPUSeconds()
        let start = DispatchTime.now().uptimeNanoseconds
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            run(extractor, file: file, batches: Array(stride(from: worker, to: batches, by: workers))[...], batch: batch)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let count = Double(file.count)
        return (count / seconds, 1000 * (processCPUSeconds() - cpuStart) / count)
    }

    private func run(_ extractor: any FeatureNetwork, file: InputFile, batches: ArraySlice<Int>, batch: Int) {
        var output = [Float](repeating: 0, count: batch * extractor.featureCount)
        file.withImages { images in
            output.withUnsafeMutableBufferPointer { destination in
                for index in batches {
                    let first = index * batch, count = min(batch, file.count - first)
                    let source = UnsafeBufferPointer(
                        rebasing: images[(first * extractor.inputCount)..<((first + count) * extractor.inputCount)])
                    do {
                        try extractor.features(batch: source, count: count, into: destination)
                    } catch {
                        print("extraction failed: \(error)")
                        return
                    }
                }
            }
        }
    }

    /// Writes the features of every image of `file` to `path` (raw float32), one worker, batches of 32.
    private func writeFeatures(_ extractor: any FeatureNetwork, of file: InputFile, to path: String) throws {
        var features = [Float](repeating: 0, count: file.count * extractor.featureCount)
        try file.withImages { images throws in
            try features.withUnsafeMutableBufferPointer { destination in
                for first in stride(from: 0, to: file.count, by: 32) {
                    let count = min(32, file.count - first)
                    try extractor.features(
                        batch: UnsafeBufferPointer(
                            rebasing: images[(first * extractor.inputCount)..<((first + count) * extractor.inputCount)]),
                        count: count,
                        into: UnsafeMutableBufferPointer(
                            rebasing: destination[(first * extractor.featureCount)...]))
                }
            }
        }
        try features.withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: path))
        print("features of the \(file.count) inputs written to \(path)")
    }

    private func run(_ extractor: any FeatureNetwork, input: [Float], batch: Int, times: Int) {
        var output = [Float](repeating: 0, count: batch * extractor.featureCount)
        input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { destination in
                for _ in 0..<times {
                    do {
                        try extractor.features(batch: source, count: batch, into: destination)
                    } catch {
                        print("extraction failed: \(error)")
                        return
                    }
                }
            }
        }
    }
}

/// Preprocessed images from a raw little-endian float32 file (N × `imageFloats`), memory-mapped.
struct InputFile: Sendable {
    let path: String
    let count: Int
    private let data: Data

    /// Why `--inputs` cannot be used.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init(path: String, imageFloats: Int) throws(Failure) {
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw Failure(description: "\(path): cannot be read (\(error.localizedDescription))")
        }
        let imageBytes = imageFloats * MemoryLayout<Float>.size
        guard !data.isEmpty, data.count % imageBytes == 0 else {
            throw Failure(description: "\(path): \(data.count) bytes is not a whole number of \(imageBytes)-byte images")
        }
        self.path = path
        count = data.count / imageBytes
    }

    /// Calls `body` with all images' floats (this benchmark runs on little-endian machines only).
    func withImages<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try data.withUnsafeBytes { try body($0.bindMemory(to: Float.self)) }
    }
}

/// A small deterministic generator for benchmark inputs.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func nextUnit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

/// The CPU model from /proc/cpuinfo (Linux), or "unknown".
func cpuModel() -> String {
    guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
    for line in text.split(separator: "\n") where line.hasPrefix("model name") {
        return line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
    }
    return "unknown"
}

/// CPU time (user + system) of this process so far, in seconds.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// The 1-minute load average (other work on the machine skews the wall-clock figures).
func loadAverage() -> String {
    (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3)
        .joined(separator: " ") ?? "unknown"
}

/// Peak resident set size of this process (VmHWM), in megabytes.
func peakResidentMegabytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kilobytes = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
        return kilobytes / 1024
    }
    return 0
}

/// Resets the peak resident set size to the current one (Linux: "5" to /proc/self/clear_refs).
func resetPeakResident() {
    try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
}

/// GFLOP/s of the depthwise 3×3 kernel on MobileNetV2's shapes (224 input, alpha 1.0), one thread.
struct DepthwiseBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "depthwise",
        abstract: "Speed of the depthwise 3×3 kernel alone on MobileNetV2's layer shapes."
    )

    @Flag(help: "Use the portable build instead of AVX2+FMA.")
    var portable = false

    @Flag(help: "The channel-blocked kernel the network runs, band by band on its band shapes, the band in cache.")
    var blocked = false

    func run() {
        ffk_set_simd_enabled(portable ? 0 : 1)
        if blocked { return runBlocked() }
        // (size, channels, stride) of each block's depthwise convolution at alpha 1.0.
        let shapes: [(Int, Int, Int)] = [(112, 32, 1), (112, 96, 2), (56, 144, 1), (56, 144, 2), (28, 192, 1),
                                         (28, 192, 2), (14, 384, 1), (14, 576, 1), (14, 576, 2), (7, 960, 1)]
        var generator = SplitMix64(seed: 3)
        var totalSeconds = 0.0
        for (size, channels, stride) in shapes {
            let input = (0..<(size * size * channels)).map { _ in Float(generator.nextUnit() * 2 - 1) }
            let weights = (0..<(9 * channels)).map { _ in Float(generator.nextUnit() - 0.5) }
            let bias = [Float](repeating: 0.1, count: channels)
            let out = stride == 1 ? size : size / 2
            let pad = stride == 1 ? 1 : 0
            var output = [Float](repeating: 0, count: out * out * channels)
            let repeats = max(1, 20_000_000 / (out * out * channels * 9))
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<repeats {
                ffk_depthwise3x3_bias_relu6(input, Int32(size), Int32(size), Int32(channels), weights, bias, &output,
                                            Int32(out), Int32(out), Int32(stride), Int32(pad), Int32(pad))
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(repeats)
            totalSeconds += seconds
            let flops = Double(out * out * channels * 9 * 2)
            print(String(format: "%4d×%-4d ×%4d  stride %d   %8.1f µs   %6.1f GFLOP/s", size, size, channels, stride,
                         seconds * 1e6, flops / seconds / 1e9))
        }
        print(String(format: "one of each: %.2f ms", totalSeconds * 1e3))
    }

    /// The blocked kernel as the network calls it: each expanding block's depthwise layer, band after band of
    /// output rows, from one band buffer of planes (so the band stays in cache, as it does not quite in the
    /// network, where the expansion has just written it). Block 0 has no expansion and runs the NHWC kernel.
    private func runBlocked() {
        // (input size, channels, stride, output rows per band, layers of this shape) at 224, alpha 1.0: the bands
        // FoldedMobileNetV2 plans with its default budget (64 K floats of expanded rows); the 14×14 and 7×7
        // layers run whole images in the grouped stage.
        let shapes: [(Int, Int, Int, Int, Int)] = [
            (112, 96, 2, 2, 1), (56, 144, 1, 6, 1), (56, 144, 2, 3, 1), (28, 192, 1, 10, 2), (28, 192, 2, 5, 1),
            (14, 384, 1, 14, 4), (14, 576, 1, 14, 2), (14, 576, 2, 7, 1), (7, 960, 1, 7, 3),
        ]
        var generator = SplitMix64(seed: 3)
        var networkSeconds = 0.0
        for (size, channels, stride, band, layers) in shapes {
            let out = stride == 1 ? size : size / 2
            let pad = stride == 1 ? 1 : 0
            let bandInputRows = min((band - 1) * stride + 3, size)
            let planeStride = bandInputRows * size * 8
            // input: channels/8 planes of (bandInputRows, size, 8); output: (band, out, channels) NHWC.
            let input = (0..<(planeStride * channels / 8)).map { _ in Float(generator.nextUnit() * 2 - 1) }
            let weights = (0..<(9 * channels)).map { _ in Float(generator.nextUnit() - 0.5) }
            let bias = [Float](repeating: 0.1, count: channels)
            var output = [Float](repeating: 0, count: band * out * channels)
            let repeats = max(1, 20_000_000 / (out * out * channels * 9))
            var best = Double.infinity
            for _ in 0..<5 {
                let start = DispatchTime.now().uptimeNanoseconds
                for _ in 0..<repeats {
                    var y = 0
                    while y < out {
                        let rows = min(band, out - y)
                        let wanted = y * stride - pad
                        let first = max(wanted, 0)
                        let last = min((y + rows - 1) * stride - pad + 2, size - 1)
                        ffk_depthwise3x3_blocked_bias_relu6(
                            input, planeStride, Int32(last - first + 1), Int32(size), Int32(channels), weights, bias,
                            &output, Int32(rows), Int32(out), Int32(stride), Int32(first - wanted), Int32(pad))
                        y += rows
                    }
                }
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(repeats))
            }
            networkSeconds += best * Double(layers)
            let flops = Double(out * out * channels * 9 * 2)
            print(String(format: "%4d×%-4d ×%4d  stride %d  bands of %2d   %8.1f µs   %6.1f GFLOP/s   ×%d", size, size,
                         channels, stride, band, best * 1e6, flops / best / 1e9, layers))
        }
        print(String(format: "the network's sixteen expanding layers: %.3f ms", networkSeconds * 1e3))
    }
}
