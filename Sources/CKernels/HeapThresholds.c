#include "CKernels.h"
#if defined(__GLIBC__)
#include <malloc.h>
#endif

// glibc's malloc.h is not part of Swift's Glibc module: the allocator thresholds are set from here.
int ffk_keep_freed_blocks_up_to(size_t bytes) {
#if defined(__GLIBC__)
    int limit = bytes > (size_t)(1 << 30) ? (1 << 30) : (int)bytes;
    int mapped = mallopt(M_MMAP_THRESHOLD, limit);
    int trimmed = mallopt(M_TRIM_THRESHOLD, limit > (1 << 28) ? (1 << 30) : 4 * limit);
    return mapped && trimmed;
#else
    (void)bytes;
    return 0;
#endif
}
