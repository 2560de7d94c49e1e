#pragma once
// Innermost SIMD kernels with runtime CPU dispatch. Placeholder until the model work fills it in.
int ffk_cpu_has_avx2_fma(void);
