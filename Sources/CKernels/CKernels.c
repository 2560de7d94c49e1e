#include "CKernels.h"
#include "Dispatch.h"
#include <string.h>

// Each kernel body is written once as an always-inline function over 8-float vectors (GCC/Clang vector
// extensions) and instantiated per kernel level: in a function compiled for AVX2+FMA (one ymm register per
// vector, fused multiply-add), in a portable one (the compiler splits vectors into SSE halves), and for AVX-512,
// where a compile-time flag adds 16-float (zmm) paths for the common cases — with each output element computed
// by the same sequence of fused multiply-adds as in the AVX2 build.
// The helpers below take and return 8-float vectors but are always inlined, so no call crosses the
// differing AVX/non-AVX calling conventions that -Wpsabi warns about.
#pragma clang diagnostic ignored "-Wpsabi"
typedef float v8f __attribute__((vector_size(32), aligned(4)));
typedef float v16f __attribute__((vector_size(64), aligned(4)));
#define INLINE static inline __attribute__((always_inline))
#define AVX2 FFK_TARGET_AVX2
#define AVX512 FFK_TARGET_AVX512

INLINE v8f splat(float value) { return (v8f){value, value, value, value, value, value, value, value}; }
INLINE v8f clamp6(v8f x) {
    return __builtin_elementwise_min(__builtin_elementwise_max(x, splat(0.0f)), splat(6.0f));
}
INLINE v16f splat16(float value) {
    return (v16f){value, value, value, value, value, value, value, value,
                  value, value, value, value, value, value, value, value};
}
INLINE v16f clamp6_16(v16f x) {
    return __builtin_elementwise_min(__builtin_elementwise_max(x, splat16(0.0f)), splat16(6.0f));
}
INLINE v16f load16(const float *p) { return *(const v16f *)p; }
// The same 8 floats in both halves (the weights of one 8-channel plane, for two pixels at once).
INLINE v16f twice8(const float *p) {
    v8f x = *(const v8f *)p;
    return __builtin_shufflevector(x, x, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7);
}
INLINE v8f low8(v16f x) { return __builtin_shufflevector(x, x, 0, 1, 2, 3, 4, 5, 6, 7); }
INLINE v8f high8(v16f x) { return __builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15); }
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

// wide (a compile-time constant): rows inside the input take 16 channels at a time (AVX-512).
INLINE void depthwise_body(const float *in, int height, int width, int channels, const float *weights,
                           const float *bias, float *out, int out_height, int out_width,
                           int stride, int pad_top, int pad_left, int wide) {
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
        int c = 0;
        if (wide && rows_inside) {
            for (; c + 16 <= vector_channels; c += 16) {
                v16f b = load16(bias + c);
                v16f w0 = load16(weights + 0 * channels + c), w1 = load16(weights + 1 * channels + c),
                     w2 = load16(weights + 2 * channels + c), w3 = load16(weights + 3 * channels + c),
                     w4 = load16(weights + 4 * channels + c), w5 = load16(weights + 5 * channels + c),
                     w6 = load16(weights + 6 * channels + c), w7 = load16(weights + 7 * channels + c),
                     w8 = load16(weights + 8 * channels + c);
                const float *r0 = in + (size_t)iy0 * width * channels + c;
                const float *r1 = r0 + (size_t)width * channels;
                const float *r2 = r1 + (size_t)width * channels;
                for (int x = 0; x < out_width; x++) {
                    int ix0 = x * stride - pad_left;
                    float *o = out_row + (size_t)x * channels + c;
                    if (x >= x_first && x <= x_last) {
                        size_t i = (size_t)ix0 * channels;
                        size_t step = (size_t)channels;
                        v16f acc = b + load16(r0 + i) * w0;
                        acc += load16(r0 + i + step) * w1;
                        acc += load16(r0 + i + 2 * step) * w2;
                        acc += load16(r1 + i) * w3;
                        acc += load16(r1 + i + step) * w4;
                        acc += load16(r1 + i + 2 * step) * w5;
                        acc += load16(r2 + i) * w6;
                        acc += load16(r2 + i + step) * w7;
                        acc += load16(r2 + i + 2 * step) * w8;
                        *(v16f *)o = clamp6_16(acc);
                    } else {
                        for (int half = 0; half < 16; half += 8) {
                            v8f acc = depthwise_pixel_checked(in + c + half, (size_t)channels, height, width, channels,
                                                              weights, *(const v8f *)(bias + c + half), iy0, ix0,
                                                              c + half);
                            *(v8f *)(o + half) = clamp6(acc);
                        }
                    }
                }
            }
        }
        for (; c < vector_channels; c += 8) {
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
    depthwise_body(in, height, width, channels, weights, bias, out, out_height, out_width, stride, pad_top, pad_left,
                   0);
}

AVX512 static void depthwise_avx512(const float *in, int height, int width, int channels, const float *weights,
                                    const float *bias, float *out, int out_height, int out_width,
                                    int stride, int pad_top, int pad_left) {
    depthwise_body(in, height, width, channels, weights, bias, out, out_height, out_width, stride, pad_top, pad_left,
                   1);
}

static void depthwise_portable(const float *in, int height, int width, int channels, const float *weights,
                               const float *bias, float *out, int out_height, int out_width,
                               int stride, int pad_top, int pad_left) {
    depthwise_body(in, height, width, channels, weights, bias, out, out_height, out_width, stride, pad_top, pad_left,
                   0);
}

void ffk_depthwise3x3_bias_relu6(const float *in, int height, int width, int channels,
                                 const float *weights, const float *bias,
                                 float *out, int out_height, int out_width,
                                 int stride, int pad_top, int pad_left) {
    int level = ffk_level();
    if (level >= FFK_LEVEL_AVX512) {
        depthwise_avx512(in, height, width, channels, weights, bias, out, out_height, out_width, stride, pad_top,
                         pad_left);
    } else if (level >= FFK_LEVEL_AVX2) {
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

// One output pixel of one plane: `interior` when its nine taps are all inside the row (r0 non-null: the three
// rows, real or zero), else the edge paths, else the checked path.
INLINE v8f depthwise_blocked_pixel(const float *plane, const float *r0, const float *r1, const float *r2, v8f b,
                                   v8f w0, v8f w1, v8f w2, v8f w3, v8f w4, v8f w5, v8f w6, v8f w7, v8f w8,
                                   int height, int width, int channels, const float *weights, int c, int iy0, int ix0,
                                   int interior) {
    v8f acc;
    if (r0 && interior) {
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
    return acc;
}

// pairs (a compile-time constant, AVX-512): at stride 1, two neighbouring interior output pixels at once — their
// taps are 16 consecutive floats of a plane row, one zmm load per tap instead of two ymm loads.
INLINE void depthwise_blocked_body(const float *in, size_t block_stride, int height, int width, int channels,
                                   const float *weights, const float *bias, float *out, int out_height,
                                   int out_width, int stride, int pad_top, int pad_left, int pairs) {
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
        // The plane's weights twice (two pixels per vector), for the pixel pairs; loaded once per plane.
        v16f b2, u0, u1, u2, u3, u4, u5, u6, u7, u8;
        if (pairs) {
            b2 = twice8(bias + c);
            u0 = twice8(weights + 0 * channels + c), u1 = twice8(weights + 1 * channels + c);
            u2 = twice8(weights + 2 * channels + c), u3 = twice8(weights + 3 * channels + c);
            u4 = twice8(weights + 4 * channels + c), u5 = twice8(weights + 5 * channels + c);
            u6 = twice8(weights + 6 * channels + c), u7 = twice8(weights + 7 * channels + c);
            u8 = twice8(weights + 8 * channels + c);
        }
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
            int x = 0;
            if (pairs && stride == 1 && r0) {
                // Pixels before the first interior one take the per-pixel paths below, one at a time.
                for (; x < x_first && x < out_width; x++) {
                    v8f acc = depthwise_blocked_pixel(plane, r0, r1, r2, b, w0, w1, w2, w3, w4, w5, w6, w7, w8, height,
                                                      width, channels, weights, c, iy0, x * stride - pad_left,
                                                      x >= x_first && x <= x_last);
                    *(v8f *)(out_row + (size_t)x * channels) = clamp6(acc);
                }
                for (; x + 1 <= x_last; x += 2) {
                    size_t o = (size_t)(x - pad_left) * 8;
                    v16f acc = b2 + load16(r0 + o) * u0;
                    acc += load16(r0 + o + 8) * u1;
                    acc += load16(r0 + o + 16) * u2;
                    acc += load16(r1 + o) * u3;
                    acc += load16(r1 + o + 8) * u4;
                    acc += load16(r1 + o + 16) * u5;
                    acc += load16(r2 + o) * u6;
                    acc += load16(r2 + o + 8) * u7;
                    acc += load16(r2 + o + 16) * u8;
                    acc = clamp6_16(acc);
                    *(v8f *)(out_row + (size_t)x * channels) = low8(acc);
                    *(v8f *)(out_row + (size_t)(x + 1) * channels) = high8(acc);
                }
            }
            for (; x < out_width; x++) {
                int ix0 = x * stride - pad_left;
                v8f acc = depthwise_blocked_pixel(plane, r0, r1, r2, b, w0, w1, w2, w3, w4, w5, w6, w7, w8, height,
                                                  width, channels, weights, c, iy0, ix0, x >= x_first && x <= x_last);
                *(v8f *)(out_row + (size_t)x * channels) = clamp6(acc);
            }
        }
    }
}

AVX2 static void depthwise_blocked_avx2(const float *in, size_t block_stride, int height, int width, int channels,
                                        const float *weights, const float *bias, float *out, int out_height,
                                        int out_width, int stride, int pad_top, int pad_left) {
    depthwise_blocked_body(in, block_stride, height, width, channels, weights, bias, out, out_height, out_width,
                           stride, pad_top, pad_left, 0);
}

AVX512 static void depthwise_blocked_avx512(const float *in, size_t block_stride, int height, int width,
                                            int channels, const float *weights, const float *bias, float *out,
                                            int out_height, int out_width, int stride, int pad_top, int pad_left) {
    depthwise_blocked_body(in, block_stride, height, width, channels, weights, bias, out, out_height, out_width,
                           stride, pad_top, pad_left, 1);
}

static void depthwise_blocked_portable(const float *in, size_t block_stride, int height, int width, int channels,
                                       const float *weights, const float *bias, float *out, int out_height,
                                       int out_width, int stride, int pad_top, int pad_left) {
    depthwise_blocked_body(in, block_stride, height, width, channels, weights, bias, out, out_height, out_width,
                           stride, pad_top, pad_left, 0);
}

void ffk_depthwise3x3_blocked_bias_relu6(const float *in, size_t block_stride, int height, int width, int channels,
                                         const float *weights, const float *bias, float *out, int out_height,
                                         int out_width, int stride, int pad_top, int pad_left) {
    int level = ffk_level();
    if (level >= FFK_LEVEL_AVX512) {
        depthwise_blocked_avx512(in, block_stride, height, width, channels, weights, bias, out, out_height, out_width,
                                 stride, pad_top, pad_left);
    } else if (level >= FFK_LEVEL_AVX2) {
        depthwise_blocked_avx2(in, block_stride, height, width, channels, weights, bias, out, out_height, out_width,
                               stride, pad_top, pad_left);
    } else {
        depthwise_blocked_portable(in, block_stride, height, width, channels, weights, bias, out, out_height,
                                   out_width, stride, pad_top, pad_left);
    }
}

// ---------------------------------------------------------------------------------------------
// Global average pooling

// x: `cols` columns of rows `stride` floats apart (stride ≥ cols).
INLINE void mean_rows_body(const float *x, size_t rows, int cols, int stride, float *out) {
    int vector_cols = cols & ~7;
    float scale = rows > 0 ? 1.0f / (float)rows : 0.0f;
    for (int c = 0; c < vector_cols; c += 8) {
        v8f sum = splat(0.0f);
        for (size_t r = 0; r < rows; r++) sum += *(const v8f *)(x + r * (size_t)stride + c);
        *(v8f *)(out + c) = sum * splat(scale);
    }
    for (int c = vector_cols; c < cols; c++) {
        float sum = 0.0f;
        for (size_t r = 0; r < rows; r++) sum += x[r * (size_t)stride + c];
        out[c] = sum * scale;
    }
}

// AVX-512: 16 columns at a time, each column summed over the rows in order from 0 — the same sums as the
// 8-column build, so results agree bit for bit.
AVX512 static void mean_rows_avx512(const float *x, size_t rows, int cols, float *out) {
    int wide_cols = cols & ~15;
    float scale = rows > 0 ? 1.0f / (float)rows : 0.0f;
    for (int c = 0; c < wide_cols; c += 16) {
        // (Plain vector expressions: the helpers returning v16f may only be inlined into the shared bodies.)
        v16f sum = {0};
        for (size_t r = 0; r < rows; r++) sum += *(const v16f *)(x + r * (size_t)cols + c);
        *(v16f *)(out + c) = sum * scale;
    }
    if (wide_cols < cols) mean_rows_body(x + wide_cols, rows, cols - wide_cols, cols, out + wide_cols);
}
AVX2 static void mean_rows_avx2(const float *x, size_t rows, int cols, float *out) {
    mean_rows_body(x, rows, cols, cols, out);
}
static void mean_rows_portable(const float *x, size_t rows, int cols, float *out) {
    mean_rows_body(x, rows, cols, cols, out);
}
void ffk_mean_rows(const float *x, size_t rows, int cols, float *out) {
    int level = ffk_level();
    if (level >= FFK_LEVEL_AVX512) mean_rows_avx512(x, rows, cols, out);
    else if (level >= FFK_LEVEL_AVX2) mean_rows_avx2(x, rows, cols, out);
    else mean_rows_portable(x, rows, cols, out);
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
