import COpenBLAS

/// OpenBLAS's own thread pool, used inside each matrix product of the PCA.
///
/// The extractor calls no BLAS (its kernels are FruitFeatures' own); only the PCA (covariance
/// accumulation, eigendecomposition, projection) goes through OpenBLAS. The thread count can change
/// the PCA's last float bits, so runs that must agree bit for bit (the CLI and a Spark job) use the
/// same count. The setting is process-wide.
package enum BLASThreading {
    /// The number of threads OpenBLAS uses per call.
    package static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// Sets the number of threads OpenBLAS uses per call (at least 1).
    package static func setThreadCount(_ count: Int) {
        openblas_set_num_threads(Int32(clamping: max(1, count)))
    }

    /// OpenBLAS's build description (version, target CPU kernel, threading).
    package static var configuration: String {
        guard let text = openblas_get_config() else { return "unknown" }
        return String(cString: text)
    }
}
