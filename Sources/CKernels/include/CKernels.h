#pragma once
// Innermost loops of the MobileNetV2 forward pass (NHWC float32) and of Pillow's bicubic resize.
// Each function picks, at run time, the build of its loop for the calling thread's kernel level: AVX-512
// (AVX512F/BW/VL/DQ), AVX2+FMA, or portable C. No compiler flags are needed for any of them: the SIMD builds
// are single functions with target attributes.
#include <stddef.h>
#include "MobileNetV3Kernels.h"  // MobileNetV3's kernels (MobileNetV3.c)
#include <stdint.h>

// ---------------------------------------------------------------------------------------------
// Kernel levels

/// Kernel levels, lowest first. A level's kernels need the CPU features in its name (and the OS saving
/// their registers).
enum { FFK_LEVEL_PORTABLE = 0, FFK_LEVEL_AVX2 = 1, FFK_LEVEL_AVX512 = 2 };

/// The environment variable that lowers the kernel level for the whole process: `portable`, `avx2` or
/// `avx512` (case-insensitive). A level above the CPU's is ignored (never raised); an unknown value is ignored.
/// Read once, when a kernel first runs.
#define FFK_KERNEL_LEVEL_VARIABLE "FRUITFEATURES_KERNEL_LEVEL"

/// The highest level this CPU and operating system support (cpuid and xgetbv: AVX-512 needs XCR0 bits 5–7).
int ffk_cpu_kernel_level(void);

/// The level every thread runs unless it caps itself: the CPU's, lowered by FRUITFEATURES_KERNEL_LEVEL.
int ffk_process_kernel_level(void);

/// The level the calling thread runs now: the process level, lowered by the thread's own cap.
int ffk_kernel_level(void);

/// "portable", "avx2" or "avx512".
const char *ffk_kernel_level_name(int level);

/// The level named `name` (as ffk_kernel_level_name spells it, any case), or -1.
int ffk_kernel_level_named(const char *name);

/// 0 when FRUITFEATURES_KERNEL_LEVEL is set to something that is not a level name (it is then ignored).
int ffk_kernel_level_request_is_valid(void);

/// On the calling thread only: caps the level at `level` (never above the process level), or removes the cap
/// (`level` < 0). Returns the level the thread now runs. For tests and benchmarks.
int ffk_set_thread_kernel_level(int level);

/// 1 when the CPU supports AVX2 and FMA, else 0.
int ffk_cpu_has_avx2_fma(void);

/// On the calling thread only: forces the portable builds (0) or removes the thread's cap (1).
/// For tests and benchmarks (older spelling of ffk_set_thread_kernel_level).
void ffk_set_simd_enabled(int enabled);

// ---------------------------------------------------------------------------------------------
// MobileNetV2 kernels

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
///   out[r][c] = f(bias[c] + Σ_k a[r][k] · w[k][c] (+ residual[r][c])), f the FFK_ACTIVATION_ kind `activation`
///   (MobileNetV3Kernels.h; 0 identity, 1 ReLU6), computed exactly as ffk_activate would.
/// The sum runs over k in order from the bias, one multiply-add at a time, so a row's result does not depend on
/// `rows` or on the other rows. `out` must not overlap `a`; it may be `residual`.
void ffk_pointwise(const float *a, size_t rows, int in_channels, const float *packed, int out_channels,
                   const float *residual, int activation, float *out);

/// ffk_pointwise writing channel-blocked output (out_channels a multiple of 8), the input layout of
/// ffk_depthwise3x3_blocked_bias_relu6: out holds out_channels/8 planes of (rows, 8), plane p starting at
/// out + p·block_stride (block_stride ≥ rows·8) and holding channels [8p, 8p + 8). No residual.
void ffk_pointwise_blocked(const float *a, size_t rows, int in_channels, const float *packed, int out_channels,
                           int activation, float *out, size_t block_stride);

// ---------------------------------------------------------------------------------------------
// Pillow's bicubic resample, 8-bit RGB (ResampleBicubic.c)

/// The horizontal pass of Pillow's 8-bit resample (`ImagingResampleHorizontal_8bpc`) on RGB rows:
///   in: `rows` rows of (in_width, 3) bytes, `in_stride` bytes apart; out: (rows, out_width, 3);
///   bounds: (out_width, 2) — each output pixel's first input pixel and tap count (≤ ksize);
///   weights: (out_width, ksize) fixed-point weights with 22 fractional bits.
/// out = clip8((1 << 21) + Σ in · weight) per channel, clip8(s) = min(max(s >> 22, 0), 255): Pillow's bytes at
/// every level. Returns 0, or -1 when its scratch memory could not be allocated (nothing written then).
int ffk_resample_horizontal_rgb(const uint8_t *in, size_t in_stride, int rows, int in_width, uint8_t *out,
                                int out_width, const int32_t *bounds, const int32_t *weights, int ksize);

/// The vertical pass (`ImagingResampleVertical_8bpc`): in: rows of `row_bytes` bytes; out: (out_height,
/// row_bytes); bounds: (out_height, 2) — first input row and tap count; weights: (out_height, ksize). The same
/// arithmetic as the horizontal pass, along columns.
void ffk_resample_vertical_rgb(const uint8_t *in, size_t row_bytes, uint8_t *out, int out_height,
                               const int32_t *bounds, const int32_t *weights, int ksize);

// ---------------------------------------------------------------------------------------------
// Allocator (HeapThresholds.c)

/// glibc only: blocks up to `bytes` (at most 1 GiB) come from the heap instead of their own mmap, and freed
/// memory stays in the heap for reuse (mmap threshold `bytes`, trim threshold 4 × `bytes`), for the whole
/// process. Returns 1 when both settings were taken, 0 otherwise (other C libraries: nothing changes).
int ffk_keep_freed_blocks_up_to(size_t bytes);
