import CKernels

/// A process-wide allocator setting that keeps freed image-sized buffers for the next image.
///
/// glibc's allocator serves blocks of more than 128 KB–32 MB (its threshold moves) with a fresh `mmap` and unmaps
/// them when freed, so each such buffer's pages are faulted in and zeroed again: a phone photo's 2–5 MB of file
/// contents, and the whole decoded image (36 MB at 4032 × 3024) on the rare resizes that need it whole (see
/// `BandedResize`; the usual ones decode in bands and never hold it). With the thresholds raised, freed buffers
/// stay in the heap and the next image reuses them. Nothing about the pixels changes. Buffers above 64 MB (over
/// ≈ 21 megapixels decoded) are still mapped and unmapped, so the memory kept is at most about 64 MB per worker
/// thread.
package enum LargeBufferReuse {
    /// Blocks up to this size come from the heap instead of their own mapping.
    package static let heapLimit = 64 << 20

    /// Raises glibc's mmap threshold to ``heapLimit`` and its trim threshold above it, for the whole process;
    /// returns whether the allocator took the settings (false on other C libraries). Call once at start-up.
    @discardableResult
    package static func enable() -> Bool {
        ffk_keep_freed_blocks_up_to(heapLimit) != 0
    }
}
