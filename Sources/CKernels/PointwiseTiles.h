#pragma once
// The builds of the 1×1 convolution that live outside Pointwise.c. Not part of the module's interface.
#include <stddef.h>

/// ffk_pointwise / ffk_pointwise_blocked for AVX-512 (block_stride 0: NHWC output; else channel-blocked planes
/// block_stride floats apart, no residual). Same arguments and results as the AVX2 build.
void ffk_pointwise_avx512(const float *a, size_t rows, int in_channels, const float *packed, int out_channels,
                          const float *residual, int activation, float *out, size_t block_stride);
