#include "CKernels.h"
#include "Dispatch.h"
#include "PointwiseTiles.h"
#include <string.h>

// 1×1 convolution as a matrix product with the layer's epilogue fused in:
//   out (rows, out_ch) = epilogue(a (rows, in_ch) · w (in_ch, out_ch) + bias), the epilogue an FFK_ACTIVATION_ kind
// The weights are packed once at load time into panels of 16 output channels, each panel starting with its
// 16 biases, so the inner loop reads one contiguous stream of weights and the activations are read in place
// (one broadcast per row and input channel): no packing pass per call, unlike a general sgemm.
// Each output element is bias, then one multiply-add per input channel in order, then the epilogue — the same
// sequence whatever tile or batch it falls in, so an image's features never depend on its neighbours.
#pragma clang diagnostic ignored "-Wpsabi"
typedef float v8f __attribute__((vector_size(32), aligned(4)));
#define INLINE static inline __attribute__((always_inline))
#define AVX2 FFK_TARGET_AVX2

enum { PANEL = 16, TILE_ROWS = 6 };

typedef float v16f __attribute__((vector_size(64), aligned(4)));
#include "Activation.h"

INLINE v8f splat(float value) { return (v8f){value, value, value, value, value, value, value, value}; }
INLINE v8f load8(const float *p) { return *(const v8f *)p; }
INLINE void store8(float *p, v8f x) { *(v8f *)p = x; }

size_t ffk_pointwise_packed_count(int in_channels, int out_channels) {
    size_t panels = (size_t)(out_channels + PANEL - 1) / PANEL;
    return panels * (size_t)(in_channels + 1) * PANEL;
}

void ffk_pointwise_pack(const float *weights, const float *bias, int in_channels, int out_channels, float *packed) {
    int panels = (out_channels + PANEL - 1) / PANEL;
    for (int p = 0; p < panels; p++) {
        float *panel = packed + (size_t)p * (size_t)(in_channels + 1) * PANEL;
        for (int j = 0; j < PANEL; j++) {
            int c = p * PANEL + j;
            panel[j] = c < out_channels ? bias[c] : 0.0f;
        }
        for (int k = 0; k < in_channels; k++) {
            for (int j = 0; j < PANEL; j++) {
                int c = p * PANEL + j;
                panel[(size_t)(k + 1) * PANEL + j] = c < out_channels ? weights[(size_t)k * out_channels + c] : 0.0f;
            }
        }
    }
}

// One tile: `rows` (≤ TILE_ROWS) rows × `vectors` (1 or 2) × 8 channels, of which `width` are stored
// (width < 8 · vectors only in a layer's last panel when its channel count is not a multiple of 8).
// rows and vectors are compile-time constants at every call site, so the loops unroll and the
// accumulators live in registers (12 ymm for 6 × 16).
// Output element (r, 8v + j) goes to out[r · row_step + v · vector_step + j]: NHWC rows (row_step = channels,
// vector_step = 8) or channel-blocked planes (row_step = 8, vector_step = the plane stride). The residual, when
// given, is NHWC with rows of `ldc` floats.
INLINE void tile(const float *a, size_t lda, int k_count, const float *panel, int rows, int vectors,
                 const float *residual, size_t ldc, int activation, float *out, size_t row_step, size_t vector_step,
                 int width) {
    v8f acc[TILE_ROWS][2];
    for (int r = 0; r < rows; r++) {
        for (int v = 0; v < vectors; v++) acc[r][v] = load8(panel + 8 * v);
    }
    const float *w = panel + PANEL;
    for (int k = 0; k < k_count; k++) {
        v8f b0 = load8(w + (size_t)k * PANEL);
        v8f b1 = vectors > 1 ? load8(w + (size_t)k * PANEL + 8) : b0;
        for (int r = 0; r < rows; r++) {
            v8f x = splat(a[(size_t)r * lda + k]);
            acc[r][0] += x * b0;
            if (vectors > 1) acc[r][1] += x * b1;
        }
    }
    if (width == 8 * vectors) {
        for (int r = 0; r < rows; r++) {
            for (int v = 0; v < vectors; v++) {
                v8f y = acc[r][v];
                if (residual) y += load8(residual + (size_t)r * ldc + 8 * v);
                y = ffk_activate8(y, activation);
                store8(out + (size_t)r * row_step + (size_t)v * vector_step, y);
            }
        }
    } else {
        // Partial panel (NHWC output only): through a buffer, element by element.
        float lanes[TILE_ROWS][16];
        for (int r = 0; r < rows; r++) {
            for (int v = 0; v < vectors; v++) store8(lanes[r] + 8 * v, acc[r][v]);
        }
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

// The full tile — TILE_ROWS rows × two vectors, where nearly all the work is — with its epilogue fixed at compile
// time: each call site passes constants for `activation` and `with_residual`, so the 12 accumulators go from the
// multiply-adds to the stores in registers, where `tile`'s run-time epilogue (any activation, residual and
// width) had the compiler keep them in memory: spills and reloads costing a fixed ≈ 200 cycles a tile, a third
// of a 16-input expansion. The arithmetic is `tile`'s, operation for operation: which of the two computes a row
// changes no bit.
//   a: (TILE_ROWS, lda) · panel (k_count, 16) + bias → out, addressed as in `tile`
INLINE void tile_full(const float *a, size_t lda, int k_count, const float *panel, const float *residual,
                      size_t ldc, int activation, float *out, size_t row_step, size_t vector_step, int with_residual) {
    v8f acc[TILE_ROWS][2];
#pragma clang loop unroll(full)
    for (int r = 0; r < TILE_ROWS; r++) {
        acc[r][0] = load8(panel);
        acc[r][1] = load8(panel + 8);
    }
    const float *w = panel + PANEL;
    for (int k = 0; k < k_count; k++) {
        v8f b0 = load8(w + (size_t)k * PANEL);
        v8f b1 = load8(w + (size_t)k * PANEL + 8);
#pragma clang loop unroll(full)
        for (int r = 0; r < TILE_ROWS; r++) {
            v8f x = splat(a[(size_t)r * lda + k]);
            acc[r][0] += x * b0;
            acc[r][1] += x * b1;
        }
    }
#pragma clang loop unroll(full)
    for (int r = 0; r < TILE_ROWS; r++) {
#pragma clang loop unroll(full)
        for (int v = 0; v < 2; v++) {
            v8f y = acc[r][v];
            if (with_residual) y += load8(residual + (size_t)r * ldc + 8 * v);
            y = ffk_activate8(y, activation);
            store8(out + (size_t)r * row_step + (size_t)v * vector_step, y);
        }
    }
}

// The whole tiles of a whole panel: rows [0, rows − rows mod TILE_ROWS), which it returns.
INLINE size_t full_tiles(const float *a, size_t rows, size_t lda, int k_count, const float *panel,
                         const float *residual, size_t ldc, int activation, float *out, size_t row_step,
                         size_t vector_step, int with_residual) {
    size_t r = 0;
    for (; r + TILE_ROWS <= rows; r += TILE_ROWS) {
        tile_full(a + r * lda, lda, k_count, panel, with_residual ? residual + r * ldc : 0, ldc, activation,
                  out + r * row_step, row_step, vector_step, with_residual);
    }
    return r;
}

// full_tiles built once per activation kind, with and without a residual. Returns the rows done: 0 for an
// activation it has no build for (`tile` then does them all).
INLINE size_t full_tiles_built(const float *a, size_t rows, size_t lda, int k_count, const float *panel,
                               const float *residual, size_t ldc, int activation, float *out, size_t row_step,
                               size_t vector_step) {
#define FULL_TILES(ACTIVATION)                                                                                \
    do {                                                                                                      \
        if (residual)                                                                                         \
            return full_tiles(a, rows, lda, k_count, panel, residual, ldc, ACTIVATION, out, row_step,         \
                              vector_step, 1);                                                                \
        return full_tiles(a, rows, lda, k_count, panel, 0, ldc, ACTIVATION, out, row_step, vector_step, 0);   \
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

// Rows from FIRST on: whole tiles, then the rest (fewer than TILE_ROWS) by a tile of its size.
#define TILE_CASES_FROM(FIRST, VECTORS)                                                                      \
    do {                                                                                                     \
        size_t r = (FIRST);                                                                                  \
        for (; r + TILE_ROWS <= rows; r += TILE_ROWS)                                                        \
            tile(a + r * lda, lda, in_channels, panel, TILE_ROWS, VECTORS, res ? res + r * ldc : 0, ldc,     \
                 activation, o + r * row_step, row_step, vector_step, width);                                     \
        const float *ar = a + r * lda;                                                                       \
        const float *rr = res ? res + r * ldc : 0;                                                           \
        float *orow = o + r * row_step;                                                                      \
        switch (rows - r) {                                                                                  \
        case 1: tile(ar, lda, in_channels, panel, 1, VECTORS, rr, ldc, activation, orow, row_step, vector_step, width); break; \
        case 2: tile(ar, lda, in_channels, panel, 2, VECTORS, rr, ldc, activation, orow, row_step, vector_step, width); break; \
        case 3: tile(ar, lda, in_channels, panel, 3, VECTORS, rr, ldc, activation, orow, row_step, vector_step, width); break; \
        case 4: tile(ar, lda, in_channels, panel, 4, VECTORS, rr, ldc, activation, orow, row_step, vector_step, width); break; \
        case 5: tile(ar, lda, in_channels, panel, 5, VECTORS, rr, ldc, activation, orow, row_step, vector_step, width); break; \
        default: break;                                                                                      \
        }                                                                                                    \
    } while (0)
#define TILE_CASES(VECTORS) TILE_CASES_FROM(0, VECTORS)

// block_stride 0: NHWC output (rows, out_channels); else channel-blocked planes block_stride floats apart.
INLINE void pointwise_body(const float *a, size_t rows, int in_channels, const float *packed, int out_channels,
                           const float *residual, int activation, float *out, size_t block_stride) {
    size_t lda = (size_t)in_channels, ldc = (size_t)out_channels;
    size_t row_step = block_stride ? 8 : ldc;
    size_t vector_step = block_stride ? block_stride : 8;
    int panels = (out_channels + PANEL - 1) / PANEL;
    for (int p = 0; p < panels; p++) {
        const float *panel = packed + (size_t)p * (size_t)(in_channels + 1) * PANEL;
        int width = out_channels - p * PANEL;
        if (width > PANEL) width = PANEL;
        float *o = out + (size_t)p * 2 * vector_step;
        const float *res = residual ? residual + (size_t)p * PANEL : 0;
        if (width == PANEL) {
            // A whole panel: whole tiles by their compiled epilogue, the last rows by `tile`.
            size_t done = full_tiles_built(a, rows, lda, in_channels, panel, res, ldc, activation, o, row_step,
                                           vector_step);
            TILE_CASES_FROM(done, 2);
        } else if (width > 8) {
            TILE_CASES(2);
        } else {
            TILE_CASES(1);
        }
    }
}

AVX2 static void pointwise_avx2(const float *a, size_t rows, int in_channels, const float *packed, int out_channels,
                                const float *residual, int activation, float *out, size_t block_stride) {
    pointwise_body(a, rows, in_channels, packed, out_channels, residual, activation, out, block_stride);
}

static void pointwise_portable(const float *a, size_t rows, int in_channels, const float *packed, int out_channels,
                               const float *residual, int activation, float *out, size_t block_stride) {
    pointwise_body(a, rows, in_channels, packed, out_channels, residual, activation, out, block_stride);
}

void ffk_pointwise(const float *a, size_t rows, int in_channels, const float *packed, int out_channels,
                   const float *residual, int activation, float *out) {
    int level = ffk_level();
    if (level >= FFK_LEVEL_AVX512) ffk_pointwise_avx512(a, rows, in_channels, packed, out_channels, residual, activation, out, 0);
    else if (level >= FFK_LEVEL_AVX2) pointwise_avx2(a, rows, in_channels, packed, out_channels, residual, activation, out, 0);
    else pointwise_portable(a, rows, in_channels, packed, out_channels, residual, activation, out, 0);
}

void ffk_pointwise_blocked(const float *a, size_t rows, int in_channels, const float *packed, int out_channels,
                           int activation, float *out, size_t block_stride) {
    int level = ffk_level();
    if (level >= FFK_LEVEL_AVX512) ffk_pointwise_avx512(a, rows, in_channels, packed, out_channels, 0, activation, out, block_stride);
    else if (level >= FFK_LEVEL_AVX2) pointwise_avx2(a, rows, in_channels, packed, out_channels, 0, activation, out, block_stride);
    else pointwise_portable(a, rows, in_channels, packed, out_channels, 0, activation, out, block_stride);
}
