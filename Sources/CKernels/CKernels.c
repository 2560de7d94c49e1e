#include "CKernels.h"
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

static int use_avx2(void) {
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

// One output pixel, channels [c, c+8): taps outside the input are skipped (they read 0).
INLINE v8f depthwise_pixel_checked(const float *in, int height, int width, int channels, const float *weights,
                                   v8f acc, int iy0, int ix0, int c) {
    for (int ky = 0; ky < 3; ky++) {
        int iy = iy0 + ky;
        if (iy < 0 || iy >= height) continue;
        for (int kx = 0; kx < 3; kx++) {
            int ix = ix0 + kx;
            if (ix < 0 || ix >= width) continue;
            acc += *(const v8f *)(in + ((size_t)iy * width + ix) * channels + c)
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
                        acc = depthwise_pixel_checked(in, height, width, channels, weights, b, iy0, ix0, c);
                    }
                    *(v8f *)(out_row + (size_t)x * channels + c) = clamp6(acc);
                }
            } else {
                for (int x = 0; x < out_width; x++) {
                    v8f acc = depthwise_pixel_checked(in, height, width, channels, weights, b, iy0,
                                                      x * stride - pad_left, c);
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
    if (use_avx2()) {
        depthwise_avx2(in, height, width, channels, weights, bias, out, out_height, out_width, stride, pad_top, pad_left);
    } else {
        depthwise_portable(in, height, width, channels, weights, bias, out, out_height, out_width, stride, pad_top,
                           pad_left);
    }
}

// ---------------------------------------------------------------------------------------------
// Bias, ReLU6, residual, pooling

INLINE void bias_relu6_body(float *x, size_t rows, int cols, const float *bias) {
    int vector_cols = cols & ~7;
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * (size_t)cols;
        for (int c = 0; c < vector_cols; c += 8) {
            *(v8f *)(row + c) = clamp6(*(v8f *)(row + c) + *(const v8f *)(bias + c));
        }
        for (int c = vector_cols; c < cols; c++) row[c] = clamp6f(row[c] + bias[c]);
    }
}

AVX2 static void bias_relu6_avx2(float *x, size_t rows, int cols, const float *bias) {
    bias_relu6_body(x, rows, cols, bias);
}
static void bias_relu6_portable(float *x, size_t rows, int cols, const float *bias) {
    bias_relu6_body(x, rows, cols, bias);
}
void ffk_bias_relu6(float *x, size_t rows, int cols, const float *bias) {
    if (use_avx2()) bias_relu6_avx2(x, rows, cols, bias); else bias_relu6_portable(x, rows, cols, bias);
}

INLINE void bias_residual_body(float *x, size_t rows, int cols, const float *bias, const float *residual) {
    int vector_cols = cols & ~7;
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * (size_t)cols;
        if (residual) {
            const float *add = residual + r * (size_t)cols;
            for (int c = 0; c < vector_cols; c += 8) {
                *(v8f *)(row + c) = (*(v8f *)(row + c) + *(const v8f *)(bias + c)) + *(const v8f *)(add + c);
            }
            for (int c = vector_cols; c < cols; c++) row[c] = (row[c] + bias[c]) + add[c];
        } else {
            for (int c = 0; c < vector_cols; c += 8) *(v8f *)(row + c) = *(v8f *)(row + c) + *(const v8f *)(bias + c);
            for (int c = vector_cols; c < cols; c++) row[c] = row[c] + bias[c];
        }
    }
}

AVX2 static void bias_residual_avx2(float *x, size_t rows, int cols, const float *bias, const float *residual) {
    bias_residual_body(x, rows, cols, bias, residual);
}
static void bias_residual_portable(float *x, size_t rows, int cols, const float *bias, const float *residual) {
    bias_residual_body(x, rows, cols, bias, residual);
}
void ffk_bias_residual(float *x, size_t rows, int cols, const float *bias, const float *residual) {
    if (use_avx2()) bias_residual_avx2(x, rows, cols, bias, residual);
    else bias_residual_portable(x, rows, cols, bias, residual);
}

INLINE void fill_bias_body(float *x, size_t rows, int cols, const float *bias, const float *residual) {
    int vector_cols = cols & ~7;
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * (size_t)cols;
        if (residual) {
            const float *add = residual + r * (size_t)cols;
            for (int c = 0; c < vector_cols; c += 8) *(v8f *)(row + c) = *(const v8f *)(add + c) + *(const v8f *)(bias + c);
            for (int c = vector_cols; c < cols; c++) row[c] = add[c] + bias[c];
        } else {
            for (int c = 0; c < vector_cols; c += 8) *(v8f *)(row + c) = *(const v8f *)(bias + c);
            for (int c = vector_cols; c < cols; c++) row[c] = bias[c];
        }
    }
}

AVX2 static void fill_bias_avx2(float *x, size_t rows, int cols, const float *bias, const float *residual) {
    fill_bias_body(x, rows, cols, bias, residual);
}
static void fill_bias_portable(float *x, size_t rows, int cols, const float *bias, const float *residual) {
    fill_bias_body(x, rows, cols, bias, residual);
}
void ffk_fill_bias(float *x, size_t rows, int cols, const float *bias, const float *residual) {
    if (use_avx2()) fill_bias_avx2(x, rows, cols, bias, residual); else fill_bias_portable(x, rows, cols, bias, residual);
}

INLINE void relu6_body(float *x, size_t count) {
    size_t vector_count = count & ~(size_t)7;
    for (size_t i = 0; i < vector_count; i += 8) *(v8f *)(x + i) = clamp6(*(v8f *)(x + i));
    for (size_t i = vector_count; i < count; i++) x[i] = clamp6f(x[i]);
}

AVX2 static void relu6_avx2(float *x, size_t count) { relu6_body(x, count); }
static void relu6_portable(float *x, size_t count) { relu6_body(x, count); }
void ffk_relu6(float *x, size_t count) {
    if (use_avx2()) relu6_avx2(x, count); else relu6_portable(x, count);
}

INLINE void bias_relu6_mean_body(const float *x, size_t rows, int cols, const float *bias, float *out) {
    int vector_cols = cols & ~7;
    float scale = rows > 0 ? 1.0f / (float)rows : 0.0f;
    for (int c = 0; c < vector_cols; c += 8) {
        v8f b = *(const v8f *)(bias + c);
        v8f sum = splat(0.0f);
        for (size_t r = 0; r < rows; r++) sum += clamp6(*(const v8f *)(x + r * (size_t)cols + c) + b);
        *(v8f *)(out + c) = sum * splat(scale);
    }
    for (int c = vector_cols; c < cols; c++) {
        float sum = 0.0f;
        for (size_t r = 0; r < rows; r++) sum += clamp6f(x[r * (size_t)cols + c] + bias[c]);
        out[c] = sum * scale;
    }
}

AVX2 static void bias_relu6_mean_avx2(const float *x, size_t rows, int cols, const float *bias, float *out) {
    bias_relu6_mean_body(x, rows, cols, bias, out);
}
static void bias_relu6_mean_portable(const float *x, size_t rows, int cols, const float *bias, float *out) {
    bias_relu6_mean_body(x, rows, cols, bias, out);
}
void ffk_bias_relu6_mean(const float *x, size_t rows, int cols, const float *bias, float *out) {
    if (use_avx2()) bias_relu6_mean_avx2(x, rows, cols, bias, out);
    else bias_relu6_mean_portable(x, rows, cols, bias, out);
}

// ---------------------------------------------------------------------------------------------
// im2col (only for Conv1, 3 input channels: not worth two builds)

void ffk_im2col3x3(const float *in, int height, int width, int channels, int stride, int pad_top, int pad_left,
                   int out_height, int out_width, float *patches) {
    size_t row_length = (size_t)9 * channels;
    for (int y = 0; y < out_height; y++) {
        for (int x = 0; x < out_width; x++) {
            float *patch = patches + ((size_t)y * out_width + x) * row_length;
            for (int ky = 0; ky < 3; ky++) {
                int iy = y * stride + ky - pad_top;
                for (int kx = 0; kx < 3; kx++) {
                    int ix = x * stride + kx - pad_left;
                    float *dst = patch + (size_t)(ky * 3 + kx) * channels;
                    int inside = iy >= 0 && iy < height && ix >= 0 && ix < width;
                    const float *src = inside ? in + ((size_t)iy * width + ix) * channels : in;
                    if (channels == 3) {
                        // RGB input: three stores beat a memcpy call per tap.
                        dst[0] = inside ? src[0] : 0.0f;
                        dst[1] = inside ? src[1] : 0.0f;
                        dst[2] = inside ? src[2] : 0.0f;
                    } else if (inside) {
                        memcpy(dst, src, sizeof(float) * (size_t)channels);
                    } else {
                        memset(dst, 0, sizeof(float) * (size_t)channels);
                    }
                }
            }
        }
    }
}
