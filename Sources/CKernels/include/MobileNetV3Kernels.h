#pragma once
// Kernels MobileNetV3 needs beyond MobileNetV2's (CKernels.h), NHWC float32, runtime-dispatched like those: the
// build of the calling thread's kernel level (AVX-512, AVX2+FMA or portable C; AVX-512 and AVX2 agree bit for
// bit, the portable build differs by rounding). Each has a `_reference` twin: the plain scalar loop, for tests.
#include <stddef.h>

/// Activation kinds of ffk_activate, ffk_depthwise_bias_activate and the epilogue of ffk_pointwise (whose
/// historical `relu6` flag 1 is FFK_ACTIVATION_RELU6).
enum {
    FFK_ACTIVATION_IDENTITY = 0,
    /// min(max(x, 0), 6)
    FFK_ACTIVATION_RELU6 = 1,
    /// max(x, 0)
    FFK_ACTIVATION_RELU = 2,
    /// x · min(max(x + 3, 0), 6) / 6 (Keras's hard_swish)
    FFK_ACTIVATION_HARD_SWISH = 3,
};

/// x: (count) → f(x) in place, f one of the FFK_ACTIVATION_ kinds.
void ffk_activate(float *x, size_t count, int activation);
void ffk_activate_reference(float *x, size_t count, int activation);

/// Depthwise k×k convolution, bias, activation (any kernel size ≥ 1; MobileNetV3 uses 3 and 5).
///   in: (height, width, channels); weights: (k, k, channels); bias: (channels);
///   out: (out_height, out_width, channels), where
///   out[y][x][c] = f(bias[c] + Σ_{ky,kx} in[y·stride + ky − pad_top][x·stride + kx − pad_left][c] · weights[ky][kx][c]),
///   reading 0 outside the input; taps are summed in (ky, kx) order.
void ffk_depthwise_bias_activate(const float *in, int height, int width, int channels, int kernel,
                                 const float *weights, const float *bias, float *out, int out_height, int out_width,
                                 int stride, int pad_top, int pad_left, int activation);
void ffk_depthwise_bias_activate_reference(const float *in, int height, int width, int channels, int kernel,
                                           const float *weights, const float *bias, float *out, int out_height,
                                           int out_width, int stride, int pad_top, int pad_left, int activation);

/// x: (pixels, channels); x[p][c] *= scale[c] (squeeze-and-excite's gating).
void ffk_scale_channels(float *x, size_t pixels, int channels, const float *scale);
void ffk_scale_channels_reference(float *x, size_t pixels, int channels, const float *scale);
