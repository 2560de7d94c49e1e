#include "Dispatch.h"
#include "PointwiseTiles.h"

// The AVX-512 build of the 1×1 convolution (see Pointwise.c for the packing and the arithmetic).
// One 16-float zmm vector is exactly one packed panel, and the 32 zmm registers hold tiles of 12 rows × 2 panels
// (24 accumulators, 2 weight vectors, 1 broadcast activation): each activation loaded is used for two
// multiply-adds and each weight vector for twelve. Every output element is still the bias, then one fused
// multiply-add per input channel in order, then the epilogue — the AVX2 build's sequence, so the two builds
// agree bit for bit and no result depends on the tile it falls in.
#pragma clang diagnostic ignored "-Wpsabi"
typedef float v16f __attribute__((vector_size(64), aligned(4)));
typedef float v8f __attribute__((vector_size(32), aligned(4)));
#define INLINE static inline __attribute__((always_inline))
#include "Activation.h"

enum { PANEL = 16, TILE_ROWS = 12 };

INLINE v16f splat16(float value) { return (v16f){value, value, value, value, value, value, value, value,
                                                 value, value, value, value, value, value, value, value}; }
INLINE v16f load16(const float *p) { return *(const v16f *)p; }
INLINE v8f low8(v16f x) { return __builtin_shufflevector(x, x, 0, 1, 2, 3, 4, 5, 6, 7); }
INLINE v8f high8(v16f x) { return __builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15); }

// One tile: `rows` (≤ TILE_ROWS) rows × `panels` (1 or 2) panels of 16 channels, of which `width` are stored
// (width < 16 only for a single, partial last panel). Channels [16q + 8h, 16q + 8h + 8) of row r go to
// out + r·row_step + (2q + h)·vector_step: NHWC (row_step = channels, vector_step = 8) or channel-blocked planes
// (row_step = 8, vector_step = the plane stride). The residual, when given, is NHWC with rows of `ldc` floats.
INLINE void tile(const float *a, size_t lda, int k_count, const float *panel0, const float *panel1, int rows,
                 int panels, const float *residual, size_t ldc, int activation, float *out, size_t row_step,
                 size_t vector_step, int width) {
    v16f acc[TILE_ROWS][2];
    for (int r = 0; r < rows; r++) {
        acc[r][0] = load16(panel0);
        if (panels > 1) acc[r][1] = load16(panel1);
    }
    const float *w0 = panel0 + PANEL, *w1 = panel1 + PANEL;
    for (int k = 0; k < k_count; k++) {
        v16f b0 = load16(w0 + (size_t)k * PANEL);
        v16f b1 = panels > 1 ? load16(w1 + (size_t)k * PANEL) : b0;
        for (int r = 0; r < rows; r++) {
            v16f x = splat16(a[(size_t)r * lda + k]);
            acc[r][0] += x * b0;
            if (panels > 1) acc[r][1] += x * b1;
        }
    }
    if (width == PANEL) {
        for (int r = 0; r < rows; r++) {
            for (int q = 0; q < panels; q++) {
                v16f y = acc[r][q];
                if (residual) y += load16(residual + (size_t)r * ldc + PANEL * q);
                y = ffk_activate16(y, activation);
                float *o = out + (size_t)r * row_step + (size_t)(2 * q) * vector_step;
                if (vector_step == 8) {
                    *(v16f *)o = y;
                } else {
                    *(v8f *)o = low8(y);
                    *(v8f *)(o + vector_step) = high8(y);
                }
            }
        }
    } else if (width == 8) {
        // Half a panel: one 8-channel store per row (the blocked layout's last plane, or an NHWC row's tail).
        for (int r = 0; r < rows; r++) {
            v8f y = low8(acc[r][0]);
            if (residual) y += *(const v8f *)(residual + (size_t)r * ldc);
            y = ffk_activate8(y, activation);
            *(v8f *)(out + (size_t)r * row_step) = y;
        }
    } else {
        // Other partial panels (NHWC output only): through a buffer, element by element.
        float lanes[TILE_ROWS][PANEL];
        for (int r = 0; r < rows; r++) *(v16f *)lanes[r] = acc[r][0];
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < width; j++) {
                float y = lanes[r][j];
                if (residual) y += residual[(size_t)r * ldc + j];
                y = ffk_activate1(y, activation);
                out[(size_t)r * row_step + j] = y;
            }
        }
    }
}

// The full tile — TILE_ROWS rows × two whole panels, where nearly all the work is — with its epilogue fixed at
// compile time: each call site passes constants for `activation`, `nhwc` and `with_residual`, so the 24
// accumulators go from the multiply-adds to the stores in registers. With `tile`'s run-time epilogue (any
// activation, layout, residual and width) the compiler kept them in memory: 24 spills and reloads, ≈ 200 cycles
// a tile whatever its depth — a third of a 16-input expansion (560 × 16 → 96: 62–75 → 95–101 GFLOP/s, Zen 4).
// The arithmetic is `tile`'s, operation for operation, so which of the two computes a row changes no bit.
//   a: (TILE_ROWS, lda) · panels (k_count, 32) + bias → out: NHWC rows (nhwc) or 8-channel planes, as `tile`
INLINE void tile_full(const float *a, size_t lda, int k_count, const float *panel0, const float *panel1,
                      const float *residual, size_t ldc, int activation, float *out, size_t row_step,
                      size_t vector_step, int nhwc, int with_residual) {
    v16f acc[TILE_ROWS][2];
#pragma clang loop unroll(full)
    for (int r = 0; r < TILE_ROWS; r++) {
        acc[r][0] = load16(panel0);
        acc[r][1] = load16(panel1);
    }
    const float *w0 = panel0 + PANEL, *w1 = panel1 + PANEL;
    for (int k = 0; k < k_count; k++) {
        v16f b0 = load16(w0 + (size_t)k * PANEL);
        v16f b1 = load16(w1 + (size_t)k * PANEL);
#pragma clang loop unroll(full)
        for (int r = 0; r < TILE_ROWS; r++) {
            v16f x = splat16(a[(size_t)r * lda + k]);
            acc[r][0] += x * b0;
            acc[r][1] += x * b1;
        }
    }
#pragma clang loop unroll(full)
    for (int r = 0; r < TILE_ROWS; r++) {
#pragma clang loop unroll(full)
        for (int q = 0; q < 2; q++) {
            v16f y = acc[r][q];
            if (with_residual) y += load16(residual + (size_t)r * ldc + PANEL * q);
            y = ffk_activate16(y, activation);
            float *o = out + (size_t)r * row_step + (size_t)(2 * q) * vector_step;
            if (nhwc) {
                *(v16f *)o = y;
            } else {
                *(v8f *)o = low8(y);
                *(v8f *)(o + vector_step) = high8(y);
            }
        }
    }
}

// The whole tiles of a pair of whole panels: rows [0, rows − rows mod TILE_ROWS), which it returns.
INLINE size_t full_tiles(const float *a, size_t rows, size_t lda, int k_count, const float *panel0,
                         const float *panel1, const float *residual, size_t ldc, int activation, float *out,
                         size_t row_step, size_t vector_step, int nhwc, int with_residual) {
    size_t r = 0;
    for (; r + TILE_ROWS <= rows; r += TILE_ROWS) {
        tile_full(a + r * lda, lda, k_count, panel0, panel1, with_residual ? residual + r * ldc : 0, ldc, activation,
                  out + r * row_step, row_step, vector_step, nhwc, with_residual);
    }
    return r;
}

// full_tiles built once per activation kind and output form (NHWC with or without a residual; channel-blocked,
// which has none). Returns the rows done: 0 for an activation it has no build for (`tile` then does them all).
FFK_TARGET_AVX512 static size_t full_tiles_built(const float *a, size_t rows, size_t lda, int k_count,
                                                 const float *panel0, const float *panel1, const float *residual,
                                                 size_t ldc, int activation, float *out, size_t row_step,
                                                 size_t vector_step, int nhwc) {
#define FULL_TILES(ACTIVATION)                                                                                \
    do {                                                                                                      \
        if (!nhwc)                                                                                            \
            return full_tiles(a, rows, lda, k_count, panel0, panel1, 0, ldc, ACTIVATION, out, row_step,       \
                              vector_step, 0, 0);                                                             \
        if (residual)                                                                                         \
            return full_tiles(a, rows, lda, k_count, panel0, panel1, residual, ldc, ACTIVATION, out,          \
                              row_step, vector_step, 1, 1);                                                   \
        return full_tiles(a, rows, lda, k_count, panel0, panel1, 0, ldc, ACTIVATION, out, row_step,           \
                          vector_step, 1, 0);                                                                 \
    } while (0)
    switch (activation) {
    case FFK_ACTIVATION_IDENTITY: FULL_TILES(FFK_ACTIVATION_IDENTITY);
    case FFK_ACTIVATION_RELU6: FULL_TILES(FFK_ACTIVATION_RELU6);
    case FFK_ACTIVATION_RELU: FULL_TILES(FFK_ACTIVATION_RELU);
    case FFK_ACTIVATION_HARD_SWISH: FULL_TILES(FFK_ACTIVATION_HARD_SWISH);
    default: return 0;
    }
#undef FULL_TILES
}

// A last panel of at most 8 channels: 8-float (ymm) accumulators, so no multiply-add is spent on the zero
// weights of the panel's upper half (layers of 24 channels have one such panel in three).
INLINE void tile_half(const float *a, size_t lda, int k_count, const float *panel, int rows, const float *residual,
                      size_t ldc, int activation, float *out, size_t row_step, int width) {
    v8f acc[TILE_ROWS];
    for (int r = 0; r < rows; r++) acc[r] = *(const v8f *)panel;
    const float *w = panel + PANEL;
    for (int k = 0; k < k_count; k++) {
        v8f b = *(const v8f *)(w + (size_t)k * PANEL);
        for (int r = 0; r < rows; r++) {
            float x = a[(size_t)r * lda + k];
            acc[r] += (v8f){x, x, x, x, x, x, x, x} * b;
        }
    }
    for (int r = 0; r < rows; r++) {
        v8f y = acc[r];
        float lanes[8];
        if (width == 8) {
            if (residual) y += *(const v8f *)(residual + (size_t)r * ldc);
            y = ffk_activate8(y, activation);
            *(v8f *)(out + (size_t)r * row_step) = y;
            continue;
        }
        *(v8f *)lanes = y;
        for (int j = 0; j < width; j++) {
            float v = lanes[j];
            if (residual) v += residual[(size_t)r * ldc + j];
            v = ffk_activate1(v, activation);
            out[(size_t)r * row_step + j] = v;
        }
    }
}

#define TILE_AT(ROWS, PANELS)                                                                                 \
    tile(ar, lda, in_channels, panel0, panel1, ROWS, PANELS, rr, ldc, activation, orow, row_step, vector_step, width)

#define TILE_HALF_AT(ROWS) tile_half(ar, lda, in_channels, panel0, ROWS, rr, ldc, activation, orow, row_step, width)

#define TILE_CASES(PANELS) TILE_LOOP(TILE_AT, PANELS, 0)
#define TILE_CASES_FROM(FIRST, PANELS) TILE_LOOP(TILE_AT, PANELS, FIRST)
#define TILE_HALF_CASES() TILE_LOOP(TILE_HALF_ARGS, 0, 0)
#define TILE_HALF_ARGS(ROWS, UNUSED) TILE_HALF_AT(ROWS)

// Rows from FIRST on: whole tiles, then the rest (fewer than TILE_ROWS) by a tile of its size.
#define TILE_LOOP(TILE, PANELS, FIRST)                                                                        \
    do {                                                                                                      \
        size_t r = (FIRST);                                                                                   \
        for (; r + TILE_ROWS <= rows; r += TILE_ROWS) {                                                       \
            const float *ar = a + r * lda;                                                                    \
            const float *rr = res ? res + r * ldc : 0;                                                        \
            float *orow = o + r * row_step;                                                                   \
            TILE(TILE_ROWS, PANELS);                                                                       \
        }                                                                                                     \
        const float *ar = a + r * lda;                                                                        \
        const float *rr = res ? res + r * ldc : 0;                                                            \
        float *orow = o + r * row_step;                                                                       \
        switch (rows - r) {                                                                                   \
        case 1: TILE(1, PANELS); break;                                                                    \
        case 2: TILE(2, PANELS); break;                                                                    \
        case 3: TILE(3, PANELS); break;                                                                    \
        case 4: TILE(4, PANELS); break;                                                                    \
        case 5: TILE(5, PANELS); break;                                                                    \
        case 6: TILE(6, PANELS); break;                                                                    \
        case 7: TILE(7, PANELS); break;                                                                    \
        case 8: TILE(8, PANELS); break;                                                                    \
        case 9: TILE(9, PANELS); break;                                                                    \
        case 10: TILE(10, PANELS); break;                                                                  \
        case 11: TILE(11, PANELS); break;                                                                  \
        default: break;                                                                                       \
        }                                                                                                     \
    } while (0)

FFK_TARGET_AVX512 void ffk_pointwise_avx512(const float *a, size_t rows, int in_channels, const float *packed,
                                            int out_channels, const float *residual, int activation, float *out,
                                            size_t block_stride) {
    size_t lda = (size_t)in_channels, ldc = (size_t)out_channels;
    size_t row_step = block_stride ? 8 : ldc;
    size_t vector_step = block_stride ? block_stride : 8;
    size_t panel_floats = (size_t)(in_channels + 1) * PANEL;
    int panels = (out_channels + PANEL - 1) / PANEL;
    for (int p = 0; p < panels;) {
        const float *panel0 = packed + (size_t)p * panel_floats;
        const float *panel1 = panel0 + panel_floats;
        float *o = out + (size_t)p * 2 * vector_step;
        const float *res = residual ? residual + (size_t)p * PANEL : 0;
        int width = out_channels - p * PANEL;
        if (width >= 2 * PANEL) {
            // Two whole panels: whole tiles by their compiled epilogue, the last rows by `tile`.
            width = PANEL;
            size_t done = full_tiles_built(a, rows, lda, in_channels, panel0, panel1, res, ldc, activation, o,
                                           row_step, vector_step, block_stride == 0);
            TILE_CASES_FROM(done, 2);
            p += 2;
        } else if (width <= 8) {
            TILE_HALF_CASES();
            p += 1;
        } else {
            if (width > PANEL) width = PANEL;
            TILE_CASES(1);
            p += 1;
        }
    }
}
