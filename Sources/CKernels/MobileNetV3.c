#include "MobileNetV3Kernels.h"
#include "Dispatch.h"

// Same scheme as CKernels.c: each body is written once over 8-float vectors and compiled twice, for
// AVX2+FMA and portably, with ffk_simd_active() choosing per call.
#pragma clang diagnostic ignored "-Wpsabi"
typedef float v8f __attribute__((vector_size(32), aligned(4)));
#define INLINE static inline __attribute__((always_inline))
#define AVX2 __attribute__((target("avx2,fma")))

INLINE v8f splat(float value) { return (v8f){value, value, value, value, value, value, value, value}; }

INLINE v8f activate8(v8f x, int activation) {
    if (activation == FFK_ACTIVATION_RELU) return __builtin_elementwise_max(x, splat(0.0f));
    if (activation == FFK_ACTIVATION_HARD_SWISH) {
        v8f gate = __builtin_elementwise_min(__builtin_elementwise_max(x + splat(3.0f), splat(0.0f)), splat(6.0f));
        return x * (gate / splat(6.0f));
    }
    return x;
}

INLINE float activate1(float x, int activation) {
    if (activation == FFK_ACTIVATION_RELU) return x < 0.0f ? 0.0f : x;
    if (activation == FFK_ACTIVATION_HARD_SWISH) {
        float gate = x + 3.0f;
        gate = gate < 0.0f ? 0.0f : (gate > 6.0f ? 6.0f : gate);
        return x * (gate / 6.0f);
    }
    return x;
}

// ---------------------------------------------------------------------------------------------
// Element-wise activation

INLINE void activate_body(float *x, size_t count, int activation) {
    size_t vectors = count & ~(size_t)7;
    for (size_t i = 0; i < vectors; i += 8) *(v8f *)(x + i) = activate8(*(v8f *)(x + i), activation);
    for (size_t i = vectors; i < count; i++) x[i] = activate1(x[i], activation);
}

AVX2 static void activate_avx2(float *x, size_t count, int activation) { activate_body(x, count, activation); }
static void activate_portable(float *x, size_t count, int activation) { activate_body(x, count, activation); }

void ffk_activate(float *x, size_t count, int activation) {
    if (activation == FFK_ACTIVATION_IDENTITY) return;
    if (ffk_simd_active()) activate_avx2(x, count, activation); else activate_portable(x, count, activation);
}

// ---------------------------------------------------------------------------------------------
// Depthwise k×k

// One output row. Pixels whose taps all fall inside the input take the unchecked loop; the others skip
// the taps outside (they read 0). Both sum the taps in (ky, kx) order from the bias, so they agree bit for bit.
INLINE void depthwise_row_body(const float *in, int height, int width, int channels, int kernel,
                               const float *weights, const float *bias, float *out_row, int y, int out_width,
                               int stride, int pad_top, int pad_left, int activation) {
    int iy0 = y * stride - pad_top;
    int rows_inside = iy0 >= 0 && iy0 + kernel <= height;
    int vector_channels = channels & ~7;
    for (int x = 0; x < out_width; x++) {
        int ix0 = x * stride - pad_left;
        int inside = rows_inside && ix0 >= 0 && ix0 + kernel <= width;
        float *o = out_row + (size_t)x * channels;
        for (int c = 0; c < vector_channels; c += 8) {
            v8f acc = *(const v8f *)(bias + c);
            for (int ky = 0; ky < kernel; ky++) {
                int iy = iy0 + ky;
                if (!inside && (iy < 0 || iy >= height)) continue;
                const float *in_row = in + (size_t)iy * width * channels;
                const float *w_row = weights + (size_t)ky * kernel * channels;
                for (int kx = 0; kx < kernel; kx++) {
                    int ix = ix0 + kx;
                    if (!inside && (ix < 0 || ix >= width)) continue;
                    acc += *(const v8f *)(in_row + (size_t)ix * channels + c) * *(const v8f *)(w_row + (size_t)kx * channels + c);
                }
            }
            *(v8f *)(o + c) = activate8(acc, activation);
        }
        for (int c = vector_channels; c < channels; c++) {
            float acc = bias[c];
            for (int ky = 0; ky < kernel; ky++) {
                int iy = iy0 + ky;
                if (iy < 0 || iy >= height) continue;
                for (int kx = 0; kx < kernel; kx++) {
                    int ix = ix0 + kx;
                    if (ix < 0 || ix >= width) continue;
                    acc += in[((size_t)iy * width + ix) * channels + c] * weights[((size_t)ky * kernel + kx) * channels + c];
                }
            }
            o[c] = activate1(acc, activation);
        }
    }
}

#define DEPTHWISE_ARGS const float *in, int height, int width, int channels, int kernel, const float *weights, \
    const float *bias, float *out, int out_height, int out_width, int stride, int pad_top, int pad_left, int activation
#define DEPTHWISE_LOOP \
    for (int y = 0; y < out_height; y++) \
        depthwise_row_body(in, height, width, channels, kernel, weights, bias, out + (size_t)y * out_width * channels, \
                           y, out_width, stride, pad_top, pad_left, activation);

AVX2 static void depthwise_avx2(DEPTHWISE_ARGS) { DEPTHWISE_LOOP }
static void depthwise_portable(DEPTHWISE_ARGS) { DEPTHWISE_LOOP }

void ffk_depthwise_bias_activate(DEPTHWISE_ARGS) {
    if (ffk_simd_active()) {
        depthwise_avx2(in, height, width, channels, kernel, weights, bias, out, out_height, out_width, stride, pad_top,
                       pad_left, activation);
    } else {
        depthwise_portable(in, height, width, channels, kernel, weights, bias, out, out_height, out_width, stride,
                           pad_top, pad_left, activation);
    }
}

// ---------------------------------------------------------------------------------------------
// Channel scaling (squeeze-and-excite)

INLINE void scale_body(float *x, size_t pixels, int channels, const float *scale) {
    int vector_channels = channels & ~7;
    for (size_t p = 0; p < pixels; p++) {
        float *row = x + p * (size_t)channels;
        for (int c = 0; c < vector_channels; c += 8) *(v8f *)(row + c) = *(v8f *)(row + c) * *(const v8f *)(scale + c);
        for (int c = vector_channels; c < channels; c++) row[c] *= scale[c];
    }
}

AVX2 static void scale_avx2(float *x, size_t pixels, int channels, const float *scale) { scale_body(x, pixels, channels, scale); }
static void scale_portable(float *x, size_t pixels, int channels, const float *scale) { scale_body(x, pixels, channels, scale); }

void ffk_scale_channels(float *x, size_t pixels, int channels, const float *scale) {
    if (ffk_simd_active()) scale_avx2(x, pixels, channels, scale); else scale_portable(x, pixels, channels, scale);
}
