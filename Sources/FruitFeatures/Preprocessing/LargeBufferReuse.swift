import CKernels

/// A process-wide allocator setting that keeps freed image-sized buffers for the next image.
///
/// A decoded 4032 × 3024 photo is 36 MB. glibc's allocator serves blocks that large with a fresh `mmap` and
/// unmaps them when freed, so every photo pays ≈ 9 000 page faults and the kernel zeroes its pages again:
/// ≈ 15–20 ms of system time per photo on a Zen 4 core, a fifth of the CPU time `fruitfeatures extract` spends on
/// one. With the thresholds raised, freed buffers stay in the heap and the next decode reuses them. Nothing
/// about the pixels changes. Buffers above 64 MB (over ≈ 21 megapixels) are still mapped and unmapped, so the
/// memory kept is at most about 64 MB per worker thread.
public enum LargeBufferReuse {
    /// Blocks up to this size come from the heap instead of their own mapping.
    public static let heapLimit = 64 << 20

    /// Raises glibc's mmap threshold to ``heapLimit`` and its trim threshold above it, for the whole process;
    /// returns whether the allocator took the settings (false on other C libraries). Call once at start-up.
    @discardableResult
    public static func enable() -> Bool {
        ffk_keep_freed_blocks_up_to(heapLimit) != 0
    }
}
