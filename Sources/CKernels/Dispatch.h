#pragma once
// Shared by the kernel files, not part of the module's interface.

/// 1 when the calling thread should run the AVX2+FMA builds: the CPU has them and the thread has not
/// disabled them (`ffk_set_simd_enabled`).
int ffk_simd_active(void);
