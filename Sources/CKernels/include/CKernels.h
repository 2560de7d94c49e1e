#pragma once
// Innermost loops of the MobileNetV2 forward pass, NHWC float32.
// Each function picks an AVX2+FMA build of its loop at run time when the CPU has those
// instructions, and a portable build otherwise (no compiler flags needed for either).
#include <stddef.h>
#include "MobileNetV3Kernels.h"  // MobileNetV3's kernels (MobileNetV3.c)

/// 1 when the CPU supports AVX2 and FMA (the fast paths), else 0.
int ffk_cpu_has_avx2_fma(void);

/// On the calling thread only: forces the portable builds (0) or allows the AVX2+FMA ones again (1).
/// For tests and benchmarks.
void ffk_set_simd_enabled(int enabled);

/// Depthwise 3×3 convolution, bias, ReLU6.
///   in: (height, width, channels); weights: (3, 3, channels); bias: (channels);
///   out: (out_height, out_width, channels), where
///   out[y][x][c] = min(max(bias[c] + Σ_{ky,kx} in[y·stride + ky − pad_top][x·stride + kx − pad_left][c]
///                                        · weights[ky][kx][c], 0), 6), reading 0 outside the input.
void ffk_depthwise3x3_bias_relu6(const float *in, int height, int width, int channels,
                                 const float *weights, const float *bias,
                                 float *out, int out_height, int out_width,
                                 int stride, int pad_top, int pad_left);

/// Depthwise 3×3 convolution, bias, ReLU6, on channel-blocked input (channels a multiple of 8):
///   in: channels/8 planes of (height, width, 8), plane p starting at in + p·block_stride, holding channels
///   [8p, 8p + 8); out: (out_height, out_width, channels) NHWC; otherwise as ffk_depthwise3x3_bias_relu6,
///   with the same arithmetic (results are identical).
void ffk_depthwise3x3_blocked_bias_relu6(const float *in, size_t block_stride, int height, int width, int channels,
                                         const float *weights, const float *bias, float *out, int out_height,
                                         int out_width, int stride, int pad_top, int pad_left);

/// x: (rows, cols) → out: (cols), out[c] = (1/rows) Σ_r x[r][c] — global average pooling.
void ffk_mean_rows(const float *x, size_t rows, int cols, float *out);

/// 3×3 patches for a convolution as a matrix product.
///   in: (height, width, channels); patches: (out_height·out_width, 9·channels), each row ordered
///   [ky][kx][c] like a Keras (3, 3, in, out) kernel's rows; 0 outside the input.
void ffk_im2col3x3(const float *in, int height, int width, int channels, int stride, int pad_top, int pad_left,
                   int out_height, int out_width, float *patches);

/// Floats `ffk_pointwise_pack` writes for a 1×1 convolution from `in_channels` to `out_channels`.
size_t ffk_pointwise_packed_count(int in_channels, int out_channels);

/// Packs a 1×1 convolution's weights (in_channels, out_channels) and bias (out_channels) for
/// `ffk_pointwise`: panels of 16 output channels, each its 16 biases then one 16-float row per input
/// channel (zeros past out_channels). `packed` holds `ffk_pointwise_packed_count` floats.
void ffk_pointwise_pack(const float *weights, const float *bias, int in_channels, int out_channels, float *packed);

/// 1×1 convolution with its epilogue:
///   a: (rows, in_channels); residual: (rows, out_channels) or NULL; out: (rows, out_channels);
///   out[r][c] = f(bias[c] + Σ_k a[r][k] · w[k][c] (+ residual[r][c])), f = ReLU6 when relu6 != 0, else identity.
/// The sum runs over k in order from the bias, one multiply-add at a time, so a row's result does not depend on
/// `rows` or on the other rows. `out` must not overlap `a`; it may be `residual`.
void ffk_pointwise(const float *a, size_t rows, int in_channels, const float *packed, int out_channels,
                   const float *residual, int relu6, float *out);

/// ffk_pointwise writing channel-blocked output (out_channels a multiple of 8), the input layout of
/// ffk_depthwise3x3_blocked_bias_relu6: out holds out_channels/8 planes of (rows, 8), plane p starting at
/// out + p·block_stride (block_stride ≥ rows·8) and holding channels [8p, 8p + 8). No residual.
void ffk_pointwise_blocked(const float *a, size_t rows, int in_channels, const float *packed, int out_channels,
                           int relu6, float *out, size_t block_stride);
