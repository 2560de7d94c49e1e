#include "MobileNetV3Kernels.h"
#include "Dispatch.h"

// Same scheme as CKernels.c: each body is written once over vectors and instantiated per kernel level — AVX-512
// (16-float zmm vectors where the channels allow, 8-float ones for the rest), AVX2+FMA (8-float ymm vectors) and
// portable C (the compiler splits the vectors; no fused multiply-adds) — with ffk_level() choosing per call.
// The AVX-512 and AVX2 builds compute every output element with the same sequence of fused multiply-adds, so
// they agree bit for bit; the portable build differs by rounding only.
#pragma clang diagnostic ignored "-Wpsabi"
typedef float v8f __attribute__((vector_size(32), aligned(4)));
typedef float v16f __attribute__((vector_size(64), aligned(4)));
#define INLINE static inline __attribute__((always_inline))
#define AVX2 FFK_TARGET_AVX2
#define AVX512 FFK_TARGET_AVX512
#include "Activation.h"

// ---------------------------------------------------------------------------------------------
// Element-wise activation

// wide (a compile-time constant): 16 floats at a time first (AVX-512); the same operations per element.
INLINE void activate_body(float *x, size_t count, int activation, int wide) {
    size_t i = 0;
    if (wide) {
        for (; i + 16 <= count; i += 16) *(v16f *)(x + i) = ffk_activate16(*(v16f *)(x + i), activation);
    }
    for (; i + 8 <= count; i += 8) *(v8f *)(x + i) = ffk_activate8(*(v8f *)(x + i), activation);
    for (; i < count; i++) x[i] = ffk_activate1(x[i], activation);
}

AVX512 static void activate_avx512(float *x, size_t count, int activation) { activate_body(x, count, activation, 1); }
AVX2 static void activate_avx2(float *x, size_t count, int activation) { activate_body(x, count, activation, 0); }
static void activate_portable(float *x, size_t count, int activation) { activate_body(x, count, activation, 0); }

void ffk_activate(float *x, size_t count, int activation) {
    if (activation == FFK_ACTIVATION_IDENTITY) return;
    int level = ffk_level();
    if (level >= FFK_LEVEL_AVX512) activate_avx512(x, count, activation);
    else if (level >= FFK_LEVEL_AVX2) activate_avx2(x, count, activation);
    else activate_portable(x, count, activation);
}

void ffk_activate_reference(float *x, size_t count, int activation) {
    for (size_t i = 0; i < count; i++) x[i] = ffk_activate1(x[i], activation);
}

// ---------------------------------------------------------------------------------------------
// Depthwise k×k

INLINE float depthwise_scalar(const float *in, int height, int width, int channels, int kernel,
                              const float *weights, float acc, int iy0, int ix0, int c) {
    for (int ky = 0; ky < kernel; ky++) {
        int iy = iy0 + ky;
        if (iy < 0 || iy >= height) continue;
        for (int kx = 0; kx < kernel; kx++) {
            int ix = ix0 + kx;
            if (ix < 0 || ix >= width) continue;
            acc += in[((size_t)iy * width + ix) * channels + c] * weights[((size_t)ky * kernel + kx) * channels + c];
        }
    }
    return acc;
}

// Interior pixels of one output row, one block of LANES channels (8 or 16) from c, KERNEL a compile-time 3 or 5:
// the KERNEL² weight vectors are loaded once per row and block (the loops unroll, so they stay in registers
// where the level has enough: all 25 of a 5×5 in AVX-512's 32 zmm), then each pixel is KERNEL² multiply-adds
// from the bias in (ky, kx) order. Columns [x_first, x_last] have every tap inside the input.
#define DEPTHWISE_INTERIOR(VEC, LANES, KERNEL, ACTIVATE)                                                          \
    do {                                                                                                          \
        VEC w[KERNEL * KERNEL];                                                                                   \
        for (int t = 0; t < KERNEL * KERNEL; t++) w[t] = *(const VEC *)(weights + (size_t)t * channels + c);     \
        VEC b = *(const VEC *)(bias + c);                                                                         \
        const float *top = in + (size_t)iy0 * width * channels + c;                                               \
        for (int x = x_first; x <= x_last; x++) {                                                                 \
            const float *p = top + (size_t)(x * stride - pad_left) * channels;                                    \
            VEC acc = b;                                                                                          \
            for (int ky = 0; ky < KERNEL; ky++) {                                                                 \
                const float *r = p + (size_t)ky * width * channels;                                               \
                for (int kx = 0; kx < KERNEL; kx++) acc += *(const VEC *)(r + (size_t)kx * channels) * w[ky * KERNEL + kx]; \
            }                                                                                                     \
            *(VEC *)(out_row + (size_t)x * channels + c) = ACTIVATE(acc, activation);                             \
        }                                                                                                         \
    } while (0)

// KERNEL: the kernel size when it is a compile-time 3 or 5 (interior fast paths), else 0 (checked paths only,
// with `kernel` at run time). wide (compile-time): 16-channel blocks first (AVX-512).
INLINE void depthwise_body(const float *in, int height, int width, int channels, int kernel, const float *weights,
                           const float *bias, float *out, int out_height, int out_width, int stride, int pad_top,
                           int pad_left, int activation, int KERNEL, int wide) {
    int vector_channels = channels & ~7;
    // Output columns whose taps are all inside the input: x·stride − pad_left ≥ 0 and
    // x·stride − pad_left + kernel − 1 ≤ width − 1.
    int x_first = (pad_left + stride - 1) / stride;
    int x_last = (width - kernel + pad_left) >= 0 ? (width - kernel + pad_left) / stride : -1;
    if (x_last > out_width - 1) x_last = out_width - 1;
    if (x_first > out_width) x_first = out_width;
    for (int y = 0; y < out_height; y++) {
        int iy0 = y * stride - pad_top;
        int rows_inside = iy0 >= 0 && iy0 + kernel <= height;
        float *out_row = out + (size_t)y * out_width * channels;
        // Interior columns of rows inside the input: the unchecked loops.
        int interior = KERNEL != 0 && rows_inside && x_first <= x_last;
        if (interior) {
            int c = 0;
            if (wide) {
                for (; c + 16 <= vector_channels; c += 16) {
                    if (KERNEL == 3) DEPTHWISE_INTERIOR(v16f, 16, 3, ffk_activate16);
                    else DEPTHWISE_INTERIOR(v16f, 16, 5, ffk_activate16);
                }
            }
            for (; c < vector_channels; c += 8) {
                if (KERNEL == 3) DEPTHWISE_INTERIOR(v8f, 8, 3, ffk_activate8);
                else DEPTHWISE_INTERIOR(v8f, 8, 5, ffk_activate8);
            }
        }
        // Every other pixel: only the taps inside the input (the same sums as if the others read 0), in (ky, kx)
        // order from the bias.
        int ky_first = iy0 < 0 ? -iy0 : 0;
        int ky_end = height - iy0 < kernel ? height - iy0 : kernel;
        for (int x = 0; x < out_width; x++) {
            if (interior && x >= x_first && x <= x_last) continue;
            int ix0 = x * stride - pad_left;
            int kx_first = ix0 < 0 ? -ix0 : 0;
            int kx_end = width - ix0 < kernel ? width - ix0 : kernel;
            float *o = out_row + (size_t)x * channels;
            int c = 0;
            if (wide) {
                for (; c + 16 <= vector_channels; c += 16) {
                    v16f acc = *(const v16f *)(bias + c);
                    for (int ky = ky_first; ky < ky_end; ky++) {
                        const float *r = in + ((size_t)(iy0 + ky) * width + ix0) * channels + c;
                        const float *wr = weights + (size_t)ky * kernel * channels + c;
                        for (int kx = kx_first; kx < kx_end; kx++)
                            acc += *(const v16f *)(r + (size_t)kx * channels) * *(const v16f *)(wr + (size_t)kx * channels);
                    }
                    *(v16f *)(o + c) = ffk_activate16(acc, activation);
                }
            }
            for (; c < vector_channels; c += 8) {
                v8f acc = *(const v8f *)(bias + c);
                for (int ky = ky_first; ky < ky_end; ky++) {
                    const float *r = in + ((size_t)(iy0 + ky) * width + ix0) * channels + c;
                    const float *wr = weights + (size_t)ky * kernel * channels + c;
                    for (int kx = kx_first; kx < kx_end; kx++)
                        acc += *(const v8f *)(r + (size_t)kx * channels) * *(const v8f *)(wr + (size_t)kx * channels);
                }
                *(v8f *)(o + c) = ffk_activate8(acc, activation);
            }
        }
        // Channels past the last multiple of 8, one at a time.
        for (int c = vector_channels; c < channels; c++) {
            for (int x = 0; x < out_width; x++) {
                float acc = depthwise_scalar(in, height, width, channels, kernel, weights, bias[c], iy0,
                                             x * stride - pad_left, c);
                out_row[(size_t)x * channels + c] = ffk_activate1(acc, activation);
            }
        }
    }
}

#define DEPTHWISE_ARGS const float *in, int height, int width, int channels, int kernel, const float *weights, \
    const float *bias, float *out, int out_height, int out_width, int stride, int pad_top, int pad_left, int activation
#define DEPTHWISE_BODY(WIDE)                                                                                       \
    if (kernel == 3)                                                                                               \
        depthwise_body(in, height, width, channels, 3, weights, bias, out, out_height, out_width, stride, pad_top,  \
                       pad_left, activation, 3, WIDE);                                                             \
    else if (kernel == 5)                                                                                          \
        depthwise_body(in, height, width, channels, 5, weights, bias, out, out_height, out_width, stride, pad_top,  \
                       pad_left, activation, 5, WIDE);                                                             \
    else                                                                                                           \
        depthwise_body(in, height, width, channels, kernel, weights, bias, out, out_height, out_width, stride,      \
                       pad_top, pad_left, activation, 0, WIDE);

AVX512 static void depthwise_avx512(DEPTHWISE_ARGS) { DEPTHWISE_BODY(1) }
AVX2 static void depthwise_avx2(DEPTHWISE_ARGS) { DEPTHWISE_BODY(0) }
static void depthwise_portable(DEPTHWISE_ARGS) { DEPTHWISE_BODY(0) }

void ffk_depthwise_bias_activate(DEPTHWISE_ARGS) {
    int level = ffk_level();
    if (level >= FFK_LEVEL_AVX512) {
        depthwise_avx512(in, height, width, channels, kernel, weights, bias, out, out_height, out_width, stride, pad_top,
                         pad_left, activation);
    } else if (level >= FFK_LEVEL_AVX2) {
        depthwise_avx2(in, height, width, channels, kernel, weights, bias, out, out_height, out_width, stride, pad_top,
                       pad_left, activation);
    } else {
        depthwise_portable(in, height, width, channels, kernel, weights, bias, out, out_height, out_width, stride,
                           pad_top, pad_left, activation);
    }
}

void ffk_depthwise_bias_activate_reference(DEPTHWISE_ARGS) {
    for (int y = 0; y < out_height; y++) {
        for (int x = 0; x < out_width; x++) {
            for (int c = 0; c < channels; c++) {
                float acc = depthwise_scalar(in, height, width, channels, kernel, weights, bias[c], y * stride - pad_top,
                                             x * stride - pad_left, c);
                out[((size_t)y * out_width + x) * channels + c] = ffk_activate1(acc, activation);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Channel scaling (squeeze-and-excite)

INLINE void scale_body(float *x, size_t pixels, int channels, const float *scale, int wide) {
    int vector_channels = channels & ~7;
    for (size_t p = 0; p < pixels; p++) {
        float *row = x + p * (size_t)channels;
        int c = 0;
        if (wide) {
            for (; c + 16 <= vector_channels; c += 16) *(v16f *)(row + c) = *(v16f *)(row + c) * *(const v16f *)(scale + c);
        }
        for (; c < vector_channels; c += 8) *(v8f *)(row + c) = *(v8f *)(row + c) * *(const v8f *)(scale + c);
        for (c = vector_channels; c < channels; c++) row[c] *= scale[c];
    }
}

AVX512 static void scale_avx512(float *x, size_t pixels, int channels, const float *scale) {
    scale_body(x, pixels, channels, scale, 1);
}
AVX2 static void scale_avx2(float *x, size_t pixels, int channels, const float *scale) {
    scale_body(x, pixels, channels, scale, 0);
}
static void scale_portable(float *x, size_t pixels, int channels, const float *scale) {
    scale_body(x, pixels, channels, scale, 0);
}

void ffk_scale_channels(float *x, size_t pixels, int channels, const float *scale) {
    int level = ffk_level();
    if (level >= FFK_LEVEL_AVX512) scale_avx512(x, pixels, channels, scale);
    else if (level >= FFK_LEVEL_AVX2) scale_avx2(x, pixels, channels, scale);
    else scale_portable(x, pixels, channels, scale);
}

void ffk_scale_channels_reference(float *x, size_t pixels, int channels, const float *scale) {
    for (size_t p = 0; p < pixels; p++) {
        for (int c = 0; c < channels; c++) x[p * (size_t)channels + c] *= scale[c];
    }
}
