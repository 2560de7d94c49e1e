#pragma once
// Shared by the kernel files, not part of the module's interface.
#include "CKernels.h"

/// The kernel level the calling thread runs: the CPU's best, capped by FRUITFEATURES_KERNEL_LEVEL and by
/// the thread's own cap (`ffk_set_thread_kernel_level`, `ffk_set_simd_enabled`). One of FFK_LEVEL_*.
int ffk_level(void);

/// 1 when the calling thread should run the AVX2+FMA builds or better (ffk_level() ≥ FFK_LEVEL_AVX2).
int ffk_simd_active(void);

// Function attributes of the two SIMD builds. AVX-512 code also gets AVX2/FMA (every AVX-512 CPU has them) so
// 8-float vector code inlined into an AVX-512 function compiles to ymm instructions.
#define FFK_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define FFK_TARGET_AVX512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq")))
