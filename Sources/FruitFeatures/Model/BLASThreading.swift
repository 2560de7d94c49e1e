import COpenBLAS

/// OpenBLAS's own thread pool, used inside each matrix product.
///
/// When several workers each run the extractor, one BLAS thread per call is fastest (the workers
/// already fill the cores); a single worker gains from letting BLAS use every core. The setting is
/// process-wide.
public enum BLASThreading {
    /// The number of threads OpenBLAS uses per call.
    public static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// Sets the number of threads OpenBLAS uses per call (at least 1).
    public static func setThreadCount(_ count: Int) {
        openblas_set_num_threads(Int32(clamping: max(1, count)))
    }

    /// OpenBLAS's build description (version, target CPU kernel, threading).
    public static var configuration: String {
        guard let text = openblas_get_config() else { return "unknown" }
        return String(cString: text)
    }
}
