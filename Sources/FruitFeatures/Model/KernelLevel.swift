import CKernels
import Foundation

/// Which build of the SIMD kernels (the forward pass and the bicubic resize) runs: portable C, AVX2+FMA or
/// AVX-512 (AVX512F/BW/VL/DQ), lowest first.
///
/// The level is chosen at run time: the best the CPU and the operating system support, lowered for the whole
/// process by the environment variable `FRUITFEATURES_KERNEL_LEVEL` (`portable`, `avx2` or `avx512`; a level
/// above the CPU's is ignored). Features are identical for any batch or job count within one level; across
/// levels they differ by rounding only (the portable build does not fuse multiply-adds).
public enum KernelLevel: Int, Sendable, Comparable, CaseIterable, CustomStringConvertible {
    /// Plain C, compiled for the baseline of the architecture.
    case portable = 0
    /// AVX2 with fused multiply-add (x86-64 since 2013–2015).
    case avx2 = 1
    /// AVX-512 F/BW/VL/DQ (Intel since Skylake-SP, AMD since Zen 4).
    case avx512 = 2

    /// The name used by `FRUITFEATURES_KERNEL_LEVEL` and recorded in summaries: `portable`, `avx2`, `avx512`.
    public var name: String { String(cString: ffk_kernel_level_name(Int32(rawValue))) }

    /// The level's name.
    public var description: String { name }

    /// The level named `name` (any case), or nil.
    public init?(name: String) {
        let level = ffk_kernel_level_named(name)
        guard level >= 0 else { return nil }
        self.init(rawValue: Int(level))
    }

    /// The level the kernels run at in this process: the CPU's, lowered by `FRUITFEATURES_KERNEL_LEVEL`.
    public static var active: KernelLevel { KernelLevel(rawValue: Int(ffk_process_kernel_level())) ?? .portable }

    /// The highest level this CPU and operating system support.
    public static var cpuBest: KernelLevel { KernelLevel(rawValue: Int(ffk_cpu_kernel_level())) ?? .portable }

    /// Every level this machine can run (from portable up to the CPU's best), lowest first.
    public static var supported: [KernelLevel] { allCases.filter { $0 <= cpuBest } }

    /// The environment variable that lowers the level: `FRUITFEATURES_KERNEL_LEVEL`.
    public static let variable = "FRUITFEATURES_KERNEL_LEVEL"

    /// The value of `FRUITFEATURES_KERNEL_LEVEL` when it is set but names no level (it is then ignored), else nil.
    public static var invalidRequest: String? {
        guard ffk_kernel_level_request_is_valid() == 0 else { return nil }
        return ProcessInfo.processInfo.environment[variable]
    }

    /// Runs `body` on the calling thread with the kernels capped at `level` (never above `active`), then
    /// removes the cap. `body` must not suspend: the cap belongs to the thread. For tests and benchmarks.
    public static func withThreadLevel<T, E: Error>(_ level: KernelLevel, _ body: () throws(E) -> T) throws(E) -> T {
        ffk_set_thread_kernel_level(Int32(level.rawValue))
        defer { ffk_set_thread_kernel_level(-1) }
        return try body()
    }

    /// Whether `a` is a lower level than `b` (portable < avx2 < avx512).
    public static func < (a: KernelLevel, b: KernelLevel) -> Bool { a.rawValue < b.rawValue }
}
