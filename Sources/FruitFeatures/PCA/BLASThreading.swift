import COpenBLAS

import Foundation

/// OpenBLAS's own thread pool, used inside the PCA's covariance accumulation and eigen-decomposition.
///
/// The extractor and the PCA projection call no BLAS (their arithmetic is FruitFeatures' own, in a fixed
/// order). The accumulation and the LAPACK fit do, and OpenBLAS's thread count changes their last bits
/// (measured: the eigenvectors differ between 1 and 2 threads). So the library runs those calls
/// single-threaded whatever the caller set: ``singleThreaded(_:)`` sets OpenBLAS's process-wide count to 1
/// for their duration, under a process-wide lock, and restores it after. A host that calls OpenBLAS from other
/// threads at the same moment shares that setting meanwhile (Debian's OpenBLAS has no per-thread setting).
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

    /// Serialises ``singleThreaded(_:)`` across the process.
    private static let lock = NSLock()

    /// Runs `body` with OpenBLAS single-threaded, so its results are the same bits whatever the caller's
    /// setting; the previous count is restored after.
    static func singleThreaded<T, Failure: Error>(_ body: () throws(Failure) -> T) throws(Failure) -> T {
        lock.lock()
        defer { lock.unlock() }
        let previous = openblas_get_num_threads()
        if previous != 1 { openblas_set_num_threads(1) }
        defer { if previous != 1 { openblas_set_num_threads(previous) } }
        return try body()
    }
}
