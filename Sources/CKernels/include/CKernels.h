#pragma once
// Innermost loops of the MobileNetV2 forward pass, NHWC float32, one image at a time.
// Each function picks an AVX2+FMA build of its loop at run time when the CPU has those
// instructions, and a portable build otherwise (no compiler flags needed for either).
#include <stddef.h>

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

/// x: (rows, cols), in place: x[r][c] = min(max(x[r][c] + bias[c], 0), 6).
void ffk_bias_relu6(float *x, size_t rows, int cols, const float *bias);

/// x: (rows, cols), in place: x[r][c] += bias[c] (+ residual[r][c] when residual is not NULL).
void ffk_bias_residual(float *x, size_t rows, int cols, const float *bias, const float *residual);

/// x: (rows, cols): x[r][c] = bias[c] (+ residual[r][c] when residual is not NULL) — the starting value of a
/// matrix product accumulated onto it (sgemm with beta = 1).
void ffk_fill_bias(float *x, size_t rows, int cols, const float *bias, const float *residual);

/// x: (count), in place: x[i] = min(max(x[i], 0), 6).
void ffk_relu6(float *x, size_t count);

/// x: (rows, cols): out[c] = (1/rows) Σ_r min(max(x[r][c] + bias[c], 0), 6) — ReLU6 and global average pooling.
void ffk_bias_relu6_mean(const float *x, size_t rows, int cols, const float *bias, float *out);

/// 3×3 patches for a convolution as a matrix product.
///   in: (height, width, channels); patches: (out_height·out_width, 9·channels), each row ordered
///   [ky][kx][c] like a Keras (3, 3, in, out) kernel's rows; 0 outside the input.
void ffk_im2col3x3(const float *in, int height, int width, int channels, int stride, int pad_top, int pad_left,
                   int out_height, int out_width, float *patches);
