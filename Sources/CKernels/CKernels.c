#include "CKernels.h"
#include "Dispatch.h"
#include <string.h>

// Each kernel body is written once as an always-inline function over 8-float vectors (GCC/Clang vector
// extensions) and instantiated twice: in a function compiled for AVX2+FMA (one ymm register per vector,
// fused multiply-add) and in a portable one (the compiler splits vectors into SSE halves).
// The helpers below take and return 8-float vectors but are always inlined, so no call crosses the
// differing AVX/non-AVX calling conventions that -Wpsabi warns about.
#pragma clang diagnostic ignored "-Wpsabi"
typedef float v8f __attribute__((vector_size(32), aligned(4)));
#define INLINE static inline __attribute__((always_inline))
#define AVX2 __attribute__((target("avx2,fma")))

int ffk_cpu_has_avx2_fma(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

// -1 unknown, 0 portable, 1 AVX2+FMA. Relaxed atomics: every thread computes the same value.
static int simd_level = -1;
// Per thread, so a test forcing the portable builds does not change what other threads run.
static _Thread_local int simd_disabled = 0;

void ffk_set_simd_enabled(int enabled) {
    simd_disabled = enabled ? 0 : 1;
}

int ffk_simd_active(void) {
    int level = __atomic_load_n(&simd_level, __ATOMIC_RELAXED);
    if (level < 0) {
        level = ffk_cpu_has_avx2_fma();
        __atomic_store_n(&simd_level, level, __ATOMIC_RELAXED);
    }
    return level && !simd_disabled;
}

INLINE v8f splat(float value) { return (v8f){value, value, value, value, value, value, value, value}; }
INLINE v8f clamp6(v8f x) {
    return __builtin_elementwise_min(__builtin_elementwise_max(x, splat(0.0f)), splat(6.0f));
}
INLINE float clamp6f(float x) { return x < 0.0f ? 0.0f : (x > 6.0f ? 6.0f : x); }

// ---------------------------------------------------------------------------------------------
// Depthwise 3×3

// One output pixel, 8 channels: taps outside the input are skipped (they read 0). Pixel (y, x)'s 8 channels
// start at in + (y·width + x)·pixel_stride: NHWC input offset to channel c (pixel_stride = channels) or one
// channel-blocked plane (pixel_stride = 8); the weights of channel c are at weights + tap·channels + c.
INLINE v8f depthwise_pixel_checked(const float *in, size_t pixel_stride, int height, int width, int channels,
                                   const float *weights, v8f acc, int iy0, int ix0, int c) {
    for (int ky = 0; ky < 3; ky++) {
        int iy = iy0 + ky;
        if (iy < 0 || iy >= height) continue;
        for (int kx = 0; kx < 3; kx++) {
            int ix = ix0 + kx;
            if (ix < 0 || ix >= width) continue;
            acc += *(const v8f *)(in + ((size_t)iy * width + ix) * pixel_stride)
                 * *(const v8f *)(weights + (ky * 3 + kx) * channels + c);
        }
    }
    return acc;
}

INLINE float depthwise_scalar(const float *in, int height, int width, int channels, const float *weights,
                              float acc, int iy0, int ix0, int c) {
    for (int ky = 0; ky < 3; ky++) {
        int iy = iy0 + ky;
        if (iy < 0 || iy >= height) continue;
        for (int kx = 0; kx < 3; kx++) {
            int ix = ix0 + kx;
            if (ix < 0 || ix >= width) continue;
            acc += in[((size_t)iy * width + ix) * channels + c] * weights[(ky * 3 + kx) * channels + c];
        }
    }
    return acc;
}

INLINE void depthwise_body(const float *in, int height, int width, int channels, const float *weights,
                           const float *bias, float *out, int out_height, int out_width,
                           int stride, int pad_top, int pad_left) {
    int vector_channels = channels & ~7;
    // Output columns whose three taps are all inside the input: x·stride − pad_left ≥ 0 and
    // x·stride − pad_left + 2 ≤ width − 1.
    int x_first = (pad_left + stride - 1) / stride;
    int x_last = (width - 3 + pad_left) >= 0 ? (width - 3 + pad_left) / stride : -1;
    if (x_last > out_width - 1) x_last = out_width - 1;
    for (int y = 0; y < out_height; y++) {
        int iy0 = y * stride - pad_top;
        int rows_inside = iy0 >= 0 && iy0 + 2 < height;
        float *out_row = out + (size_t)y * out_width * channels;
        for (int c = 0; c < vector_channels; c += 8) {
            v8f b = *(const v8f *)(bias + c);
            if (rows_inside) {
                // Weights held in registers across the row.
                v8f w0 = *(const v8f *)(weights + 0 * channels + c), w1 = *(const v8f *)(weights + 1 * channels + c),
                    w2 = *(const v8f *)(weights + 2 * channels + c), w3 = *(const v8f *)(weights + 3 * channels + c),
                    w4 = *(const v8f *)(weights + 4 * channels + c), w5 = *(const v8f *)(weights + 5 * channels + c),
                    w6 = *(const v8f *)(weights + 6 * channels + c), w7 = *(const v8f *)(weights + 7 * channels + c),
                    w8 = *(const v8f *)(weights + 8 * channels + c);
                const float *r0 = in + (size_t)iy0 * width * channels + c;
                const float *r1 = r0 + (size_t)width * channels;
                const float *r2 = r1 + (size_t)width * channels;
                for (int x = 0; x < out_width; x++) {
                    int ix0 = x * stride - pad_left;
                    v8f acc;
                    if (x >= x_first && x <= x_last) {
                        size_t o = (size_t)ix0 * channels;
                        size_t step = (size_t)channels;
                        acc = b + *(const v8f *)(r0 + o) * w0;
                        acc += *(const v8f *)(r0 + o + step) * w1;
                        acc += *(const v8f *)(r0 + o + 2 * step) * w2;
                        acc += *(const v8f *)(r1 + o) * w3;
                        acc += *(const v8f *)(r1 + o + step) * w4;
                        acc += *(const v8f *)(r1 + o + 2 * step) * w5;
                        acc += *(const v8f *)(r2 + o) * w6;
                        acc += *(const v8f *)(r2 + o + step) * w7;
                        acc += *(const v8f *)(r2 + o + 2 * step) * w8;
                    } else {
                        acc = depthwise_pixel_checked(in + c, (size_t)channels, height, width, channels, weights, b,
                                                      iy0, ix0, c);
                    }
                    *(v8f *)(out_row + (size_t)x * channels + c) = clamp6(acc);
                }
            } else {
                for (int x = 0; x < out_width; x++) {
                    v8f acc = depthwise_pixel_checked(in + c, (size_t)channels, height, width, channels, weights, b,
                                                      iy0, x * stride - pad_left, c);
                    *(v8f *)(out_row + (size_t)x * channels + c) = clamp6(acc);
                }
            }
        }
        for (int c = vector_channels; c < channels; c++) {
            for (int x = 0; x < out_width; x++) {
                float acc = depthwise_scalar(in, height, width, channels, weights, bias[c], iy0,
                                             x * stride - pad_left, c);
                out_row[(size_t)x * channels + c] = clamp6f(acc);
            }
        }
    }
}

AVX2 static void depthwise_avx2(const float *in, int height, int width, int channels, const float *weights,
                                const float *bias, float *out, int out_height, int out_width,
                                int stride, int pad_top, int pad_left) {
    depthwise_body(in, height, width, channels, weights, bias, out, out_height, out_width, stride, pad_top, pad_left);
}

static void depthwise_portable(const float *in, int height, int width, int channels, const float *weights,
                               const float *bias, float *out, int out_height, int out_width,
                               int stride, int pad_top, int pad_left) {
    depthwise_body(in, height, width, channels, weights, bias, out, out_height, out_width, stride, pad_top, pad_left);
}

void ffk_depthwise3x3_bias_relu6(const float *in, int height, int width, int channels,
                                 const float *weights, const float *bias,
                                 float *out, int out_height, int out_width,
                                 int stride, int pad_top, int pad_left) {
    if (ffk_simd_active()) {
        depthwise_avx2(in, height, width, channels, weights, bias, out, out_height, out_width, stride, pad_top, pad_left);
    } else {
        depthwise_portable(in, height, width, channels, weights, bias, out, out_height, out_width, stride, pad_top,
                           pad_left);
    }
}

// ---------------------------------------------------------------------------------------------
// Depthwise 3×3 on channel-blocked input

// The input is stored as channels/8 planes of (height, width, 8): sweeping a row of one plane reads consecutive
// memory, each cache line serves two pixels, and the three rows a plane's output row needs fit in L1. On NHWC
// input the same sweep strides by the whole channel count and fetches each line from L2 twice.

// Rows above or below the input read from here instead: no row of a plane is ever checked per tap.
enum { ZERO_ROW_PIXELS = 1024 };
static const float zero_row[(ZERO_ROW_PIXELS + 2) * 8] __attribute__((aligned(64)));

INLINE void depthwise_blocked_body(const float *in, size_t block_stride, int height, int width, int channels,
                                   const float *weights, const float *bias, float *out, int out_height,
                                   int out_width, int stride, int pad_top, int pad_left) {
    int x_first = (pad_left + stride - 1) / stride;
    int x_last = (width - 3 + pad_left) >= 0 ? (width - 3 + pad_left) / stride : -1;
    if (x_last > out_width - 1) x_last = out_width - 1;
    int use_zero_row = width <= ZERO_ROW_PIXELS;
    size_t row = (size_t)width * 8;
    for (int c = 0; c < channels; c += 8) {
        const float *plane = in + (size_t)(c / 8) * block_stride;
        v8f b = *(const v8f *)(bias + c);
        v8f w0 = *(const v8f *)(weights + 0 * channels + c), w1 = *(const v8f *)(weights + 1 * channels + c),
            w2 = *(const v8f *)(weights + 2 * channels + c), w3 = *(const v8f *)(weights + 3 * channels + c),
            w4 = *(const v8f *)(weights + 4 * channels + c), w5 = *(const v8f *)(weights + 5 * channels + c),
            w6 = *(const v8f *)(weights + 6 * channels + c), w7 = *(const v8f *)(weights + 7 * channels + c),
            w8 = *(const v8f *)(weights + 8 * channels + c);
        for (int y = 0; y < out_height; y++) {
            int iy0 = y * stride - pad_top;
            int rows_inside = iy0 >= 0 && iy0 + 2 < height;
            float *out_row = out + (size_t)y * out_width * channels + c;
            const float *r0, *r1, *r2;
            if (rows_inside || use_zero_row) {
                // A zero row stands for each row outside the input; the sums are the same (x + 0·w = x).
                r0 = iy0 >= 0 && iy0 < height ? plane + (size_t)iy0 * row : zero_row;
                r1 = iy0 + 1 >= 0 && iy0 + 1 < height ? plane + (size_t)(iy0 + 1) * row : zero_row;
                r2 = iy0 + 2 >= 0 && iy0 + 2 < height ? plane + (size_t)(iy0 + 2) * row : zero_row;
            } else {
                r0 = r1 = r2 = 0;
            }
            for (int x = 0; x < out_width; x++) {
                int ix0 = x * stride - pad_left;
                v8f acc;
                if (r0 && x >= x_first && x <= x_last) {
                    size_t o = (size_t)ix0 * 8;
                    acc = b + *(const v8f *)(r0 + o) * w0;
                    acc += *(const v8f *)(r0 + o + 8) * w1;
                    acc += *(const v8f *)(r0 + o + 16) * w2;
                    acc += *(const v8f *)(r1 + o) * w3;
                    acc += *(const v8f *)(r1 + o + 8) * w4;
                    acc += *(const v8f *)(r1 + o + 16) * w5;
                    acc += *(const v8f *)(r2 + o) * w6;
                    acc += *(const v8f *)(r2 + o + 8) * w7;
                    acc += *(const v8f *)(r2 + o + 16) * w8;
                } else if (r0 && ix0 == -1 && width >= 2) {
                    // Left edge: the taps of column −1 read zero padding.
                    acc = b + *(const v8f *)(r0) * w1;
                    acc += *(const v8f *)(r0 + 8) * w2;
                    acc += *(const v8f *)(r1) * w4;
                    acc += *(const v8f *)(r1 + 8) * w5;
                    acc += *(const v8f *)(r2) * w7;
                    acc += *(const v8f *)(r2 + 8) * w8;
                } else if (r0 && ix0 >= 0 && ix0 + 2 == width) {
                    // Right edge: the taps of column `width` read zero padding.
                    size_t o = (size_t)ix0 * 8;
                    acc = b + *(const v8f *)(r0 + o) * w0;
                    acc += *(const v8f *)(r0 + o + 8) * w1;
                    acc += *(const v8f *)(r1 + o) * w3;
                    acc += *(const v8f *)(r1 + o + 8) * w4;
                    acc += *(const v8f *)(r2 + o) * w6;
                    acc += *(const v8f *)(r2 + o + 8) * w7;
                } else {
                    acc = depthwise_pixel_checked(plane, 8, height, width, channels, weights, b, iy0, ix0, c);
                }
                *(v8f *)(out_row + (size_t)x * channels) = clamp6(acc);
            }
        }
    }
}

AVX2 static void depthwise_blocked_avx2(const float *in, size_t block_stride, int height, int width, int channels,
                                        const float *weights, const float *bias, float *out, int out_height,
                                        int out_width, int stride, int pad_top, int pad_left) {
    depthwise_blocked_body(in, block_stride, height, width, channels, weights, bias, out, out_height, out_width,
                           stride, pad_top, pad_left);
}

static void depthwise_blocked_portable(const float *in, size_t block_stride, int height, int width, int channels,
                                       const float *weights, const float *bias, float *out, int out_height,
                                       int out_width, int stride, int pad_top, int pad_left) {
    depthwise_blocked_body(in, block_stride, height, width, channels, weights, bias, out, out_height, out_width,
                           stride, pad_top, pad_left);
}

void ffk_depthwise3x3_blocked_bias_relu6(const float *in, size_t block_stride, int height, int width, int channels,
                                         const float *weights, const float *bias, float *out, int out_height,
                                         int out_width, int stride, int pad_top, int pad_left) {
    if (ffk_simd_active()) {
        depthwise_blocked_avx2(in, block_stride, height, width, channels, weights, bias, out, out_height, out_width,
                               stride, pad_top, pad_left);
    } else {
        depthwise_blocked_portable(in, block_stride, height, width, channels, weights, bias, out, out_height,
                                   out_width, stride, pad_top, pad_left);
    }
}

// ---------------------------------------------------------------------------------------------
// Global average pooling

INLINE void mean_rows_body(const float *x, size_t rows, int cols, float *out) {
    int vector_cols = cols & ~7;
    float scale = rows > 0 ? 1.0f / (float)rows : 0.0f;
    for (int c = 0; c < vector_cols; c += 8) {
        v8f sum = splat(0.0f);
        for (size_t r = 0; r < rows; r++) sum += *(const v8f *)(x + r * (size_t)cols + c);
        *(v8f *)(out + c) = sum * splat(scale);
    }
    for (int c = vector_cols; c < cols; c++) {
        float sum = 0.0f;
        for (size_t r = 0; r < rows; r++) sum += x[r * (size_t)cols + c];
        out[c] = sum * scale;
    }
}

AVX2 static void mean_rows_avx2(const float *x, size_t rows, int cols, float *out) { mean_rows_body(x, rows, cols, out); }
static void mean_rows_portable(const float *x, size_t rows, int cols, float *out) { mean_rows_body(x, rows, cols, out); }
void ffk_mean_rows(const float *x, size_t rows, int cols, float *out) {
    if (ffk_simd_active()) mean_rows_avx2(x, rows, cols, out); else mean_rows_portable(x, rows, cols, out);
}

// ---------------------------------------------------------------------------------------------
// im2col (only for Conv1, 3 input channels: not worth two builds)

void ffk_im2col3x3(const float *in, int height, int width, int channels, int stride, int pad_top, int pad_left,
                   int out_height, int out_width, float *patches) {
    size_t row_length = (size_t)9 * channels;
    size_t taps_row = (size_t)3 * channels;
    for (int y = 0; y < out_height; y++) {
        for (int x = 0; x < out_width; x++) {
            float *patch = patches + ((size_t)y * out_width + x) * row_length;
            int ix0 = x * stride - pad_left;
            int columns_inside = ix0 >= 0 && ix0 + 2 < width;
            for (int ky = 0; ky < 3; ky++) {
                int iy = y * stride + ky - pad_top;
                float *dst = patch + (size_t)ky * taps_row;
                if (iy < 0 || iy >= height) {
                    memset(dst, 0, sizeof(float) * taps_row);
                } else if (columns_inside) {
                    // The three taps of a row are adjacent pixels: one contiguous copy (of a constant size for
                    // RGB input, so the compiler inlines it).
                    const float *src = in + ((size_t)iy * width + ix0) * channels;
                    if (channels == 3) memcpy(dst, src, sizeof(float) * 9);
                    else memcpy(dst, src, sizeof(float) * taps_row);
                } else {
                    for (int kx = 0; kx < 3; kx++) {
                        int ix = ix0 + kx;
                        float *tap = dst + (size_t)kx * channels;
                        if (ix >= 0 && ix < width) {
                            memcpy(tap, in + ((size_t)iy * width + ix) * channels, sizeof(float) * (size_t)channels);
                        } else {
                            memset(tap, 0, sizeof(float) * (size_t)channels);
                        }
                    }
                }
            }
        }
    }
}
