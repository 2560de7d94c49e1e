#include "CKernels.h"
#include "Dispatch.h"
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

// The two passes of Pillow's 8-bit resample (libImaging/Resample.c, ImagingResampleHorizontal_8bpc and
// ImagingResampleVertical_8bpc) for RGB images: every output byte is
//   clip8((1 << 21) + Σ_i in_i · w_i),  clip8(s) = min(max(s >> 22, 0), 255),
// with 32-bit integer sums of fixed-point weights (22 fractional bits). Integer sums are exact (Pillow's
// weights never let them overflow), so any order of summation and any vector width give Pillow's bytes:
// the SIMD builds below are tested bit for bit against the portable one and against a plain Swift loop.

enum { PRECISION_BITS = 22, HALF = 1 << (PRECISION_BITS - 1) };

static inline uint8_t clip8(int32_t sum) {
    int32_t v = sum >> PRECISION_BITS;
    return v < 0 ? 0 : (v > 255 ? 255 : (uint8_t)v);
}

// ---------------------------------------------------------------------------------------------
// Portable (the reference the SIMD builds are tested against; Pillow's loops)

static void horizontal_portable(const uint8_t *in, size_t in_stride, int rows, uint8_t *out, int out_width,
                                const int32_t *bounds, const int32_t *weights, int ksize) {
    for (int y = 0; y < rows; y++) {
        const uint8_t *row = in + (size_t)y * in_stride;
        uint8_t *o = out + (size_t)y * out_width * 3;
        for (int xx = 0; xx < out_width; xx++) {
            const uint8_t *p = row + (size_t)bounds[2 * xx] * 3;
            const int32_t *k = weights + (size_t)xx * ksize;
            int32_t s0 = HALF, s1 = HALF, s2 = HALF;
            for (int i = 0; i < bounds[2 * xx + 1]; i++) {
                s0 += p[3 * i] * k[i];
                s1 += p[3 * i + 1] * k[i];
                s2 += p[3 * i + 2] * k[i];
            }
            o[3 * xx] = clip8(s0);
            o[3 * xx + 1] = clip8(s1);
            o[3 * xx + 2] = clip8(s2);
        }
    }
}

static void vertical_portable(const uint8_t *in, size_t row_bytes, uint8_t *out, int out_height,
                              const int32_t *bounds, const int32_t *weights, int ksize) {
    for (int yy = 0; yy < out_height; yy++) {
        const uint8_t *first = in + (size_t)bounds[2 * yy] * row_bytes;
        const int32_t *k = weights + (size_t)yy * ksize;
        int count = bounds[2 * yy + 1];
        uint8_t *o = out + (size_t)yy * row_bytes;
        for (size_t b = 0; b < row_bytes; b++) {
            int32_t s = HALF;
            for (int i = 0; i < count; i++) s += first[(size_t)i * row_bytes + b] * k[i];
            o[b] = clip8(s);
        }
    }
}

#if defined(__x86_64__) || defined(__i386__)

// ---------------------------------------------------------------------------------------------
// Horizontal pass, SIMD: blocks of R rows (8 for AVX2, 16 for AVX-512) are first transposed into columns —
// for each input pixel x, its R rows' pixels as 4-byte RGBx words side by side — so that an output pixel of all
// R rows is a sum over its taps of (R·4 bytes widened to 32-bit lanes) × (the tap's weight, broadcast): the
// weights are shared by the rows, and no horizontal sum across lanes is needed. The 4th byte of each word is
// padding, computed and never stored.

// columns: (x_end − x_begin, block_rows) 32-bit words; rows past `rows` repeat the last row (computed, not
// stored). Four pixels of four rows at a time: one 16-byte load per row (12 bytes used), a byte shuffle to
// RGB0 words, and a 4×4 transpose of the words, so pixel x's four rows are one 16-byte store.
static inline __attribute__((always_inline, target("ssse3"))) void transpose_block(
    const uint8_t *in, size_t in_stride, int rows, int block_rows, int in_width, int x_begin, int x_end,
    uint32_t *columns) {
    const __m128i to_words = _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1);
    const uint8_t *row[16];
    for (int r = 0; r < block_rows; r++) row[r] = in + (size_t)(r < rows ? r : rows - 1) * in_stride;
    int x = x_begin;
    // A 16-byte load at pixel x reads bytes 3x … 3x + 15: inside the row while 3x + 16 ≤ 3·in_width.
    for (; x + 4 <= x_end && 3 * x + 16 <= 3 * in_width; x += 4) {
        uint32_t *column = columns + (size_t)(x - x_begin) * block_rows;
        for (int g = 0; g < block_rows; g += 4) {
            __m128i v0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(row[g] + 3 * (size_t)x)), to_words);
            __m128i v1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(row[g + 1] + 3 * (size_t)x)), to_words);
            __m128i v2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(row[g + 2] + 3 * (size_t)x)), to_words);
            __m128i v3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(row[g + 3] + 3 * (size_t)x)), to_words);
            __m128i t0 = _mm_unpacklo_epi32(v0, v1), t1 = _mm_unpacklo_epi32(v2, v3);
            __m128i t2 = _mm_unpackhi_epi32(v0, v1), t3 = _mm_unpackhi_epi32(v2, v3);
            _mm_storeu_si128((__m128i *)(column + g), _mm_unpacklo_epi64(t0, t1));
            _mm_storeu_si128((__m128i *)(column + block_rows + g), _mm_unpackhi_epi64(t0, t1));
            _mm_storeu_si128((__m128i *)(column + 2 * block_rows + g), _mm_unpacklo_epi64(t2, t3));
            _mm_storeu_si128((__m128i *)(column + 3 * block_rows + g), _mm_unpackhi_epi64(t2, t3));
        }
    }
    // The last few pixels, byte by byte.
    for (; x < x_end; x++) {
        uint32_t *column = columns + (size_t)(x - x_begin) * block_rows;
        for (int r = 0; r < block_rows; r++) {
            const uint8_t *p = row[r] + (size_t)x * 3;
            column[r] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
        }
    }
}

// The input columns any output pixel reads: [x_begin, x_end).
static void tap_range(int out_width, const int32_t *bounds, int *x_begin, int *x_end) {
    int lo = bounds[0], hi = bounds[0];
    for (int xx = 0; xx < out_width; xx++) {
        if (bounds[2 * xx + 1] == 0) continue;
        if (bounds[2 * xx] < lo) lo = bounds[2 * xx];
        if (bounds[2 * xx] + bounds[2 * xx + 1] > hi) hi = bounds[2 * xx] + bounds[2 * xx + 1];
    }
    *x_begin = lo;
    *x_end = hi > lo ? hi : lo;
}

// Writes the RGB bytes of `block_rows`·4 words (R rows' RGBx of one output pixel) to the rows that exist.
static inline __attribute__((always_inline)) void store_rgb_words(const uint8_t *words, int rows, uint8_t *out,
                                                                  size_t out_stride, int xx) {
    for (int r = 0; r < rows; r++) {
        uint8_t *o = out + (size_t)r * out_stride + (size_t)xx * 3;
        o[0] = words[4 * r];
        o[1] = words[4 * r + 1];
        o[2] = words[4 * r + 2];
    }
}

FFK_TARGET_AVX2 static void horizontal_avx2(const uint8_t *in, size_t in_stride, int rows, uint8_t *out,
                                            int out_width, const int32_t *bounds, const int32_t *weights, int ksize,
                                            uint32_t *columns, int in_width, int x_begin, int x_end) {
    enum { R = 8 };
    size_t out_stride = (size_t)out_width * 3;
    for (int y = 0; y < rows; y += R) {
        int block = rows - y < R ? rows - y : R;
        transpose_block(in + (size_t)y * in_stride, in_stride, block, R, in_width, x_begin, x_end, columns);
        for (int xx = 0; xx < out_width; xx++) {
            // 8 rows × RGBx = 32 lanes in 4 vectors of 8 (2 rows each).
            __m256i a0 = _mm256_set1_epi32(HALF), a1 = a0, a2 = a0, a3 = a0;
            const uint8_t *p = (const uint8_t *)(columns + (size_t)(bounds[2 * xx] - x_begin) * R);
            const int32_t *k = weights + (size_t)xx * ksize;
            for (int i = 0; i < bounds[2 * xx + 1]; i++, p += 4 * R) {
                __m256i w = _mm256_set1_epi32(k[i]);
                a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p)), w));
                a1 = _mm256_add_epi32(a1, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 8))), w));
                a2 = _mm256_add_epi32(a2, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 16))), w));
                a3 = _mm256_add_epi32(a3, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 24))), w));
            }
            // >> 22, then saturating packs: 32 → 16 bits (signed), 16 → 8 bits (unsigned) clip to 0…255.
            __m256i s01 = _mm256_packs_epi32(_mm256_srai_epi32(a0, PRECISION_BITS), _mm256_srai_epi32(a1, PRECISION_BITS));
            __m256i s23 = _mm256_packs_epi32(_mm256_srai_epi32(a2, PRECISION_BITS), _mm256_srai_epi32(a3, PRECISION_BITS));
            __m256i bytes = _mm256_packus_epi16(s01, s23);
            // The packs interleave 128-bit lanes: (a0 lo, a1 lo, a2 lo, a3 lo | a0 hi, a1 hi, a2 hi, a3 hi) in
            // 4-byte groups; put the words back in row order.
            bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            uint8_t words[4 * R];
            _mm256_storeu_si256((__m256i *)words, bytes);
            store_rgb_words(words, block, out + (size_t)y * out_stride, out_stride, xx);
        }
    }
}

FFK_TARGET_AVX512 static void horizontal_avx512(const uint8_t *in, size_t in_stride, int rows, uint8_t *out,
                                                int out_width, const int32_t *bounds, const int32_t *weights,
                                                int ksize, uint32_t *columns, int in_width, int x_begin, int x_end) {
    enum { R = 16 };
    size_t out_stride = (size_t)out_width * 3;
    for (int y = 0; y < rows; y += R) {
        int block = rows - y < R ? rows - y : R;
        transpose_block(in + (size_t)y * in_stride, in_stride, block, R, in_width, x_begin, x_end, columns);
        for (int xx = 0; xx < out_width; xx++) {
            // 16 rows × RGBx = 64 lanes in 4 vectors of 16 (4 rows each).
            __m512i a0 = _mm512_set1_epi32(HALF), a1 = a0, a2 = a0, a3 = a0;
            const uint8_t *p = (const uint8_t *)(columns + (size_t)(bounds[2 * xx] - x_begin) * R);
            const int32_t *k = weights + (size_t)xx * ksize;
            for (int i = 0; i < bounds[2 * xx + 1]; i++, p += 4 * R) {
                __m512i w = _mm512_set1_epi32(k[i]);
                a0 = _mm512_add_epi32(a0, _mm512_mullo_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p)), w));
                a1 = _mm512_add_epi32(a1, _mm512_mullo_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + 16))), w));
                a2 = _mm512_add_epi32(a2, _mm512_mullo_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + 32))), w));
                a3 = _mm512_add_epi32(a3, _mm512_mullo_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + 48))), w));
            }
            // >> 22, negative → 0, then an unsigned saturating narrowing (> 255 → 255).
            __m512i zero = _mm512_setzero_si512();
            uint8_t words[4 * R];
            _mm_storeu_si128((__m128i *)words, _mm512_cvtusepi32_epi8(_mm512_max_epi32(_mm512_srai_epi32(a0, PRECISION_BITS), zero)));
            _mm_storeu_si128((__m128i *)(words + 16), _mm512_cvtusepi32_epi8(_mm512_max_epi32(_mm512_srai_epi32(a1, PRECISION_BITS), zero)));
            _mm_storeu_si128((__m128i *)(words + 32), _mm512_cvtusepi32_epi8(_mm512_max_epi32(_mm512_srai_epi32(a2, PRECISION_BITS), zero)));
            _mm_storeu_si128((__m128i *)(words + 48), _mm512_cvtusepi32_epi8(_mm512_max_epi32(_mm512_srai_epi32(a3, PRECISION_BITS), zero)));
            store_rgb_words(words, block, out + (size_t)y * out_stride, out_stride, xx);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Vertical pass, SIMD: an output row is a sum of whole input rows times one weight each, so consecutive bytes
// widen into 32-bit lanes and share the broadcast weight (64 bytes per step with AVX-512, 32 with AVX2).

FFK_TARGET_AVX2 static void vertical_avx2(const uint8_t *in, size_t row_bytes, uint8_t *out, int out_height,
                                          const int32_t *bounds, const int32_t *weights, int ksize) {
    for (int yy = 0; yy < out_height; yy++) {
        const uint8_t *first = in + (size_t)bounds[2 * yy] * row_bytes;
        const int32_t *k = weights + (size_t)yy * ksize;
        int count = bounds[2 * yy + 1];
        uint8_t *o = out + (size_t)yy * row_bytes;
        size_t b = 0;
        for (; b + 32 <= row_bytes; b += 32) {
            __m256i a0 = _mm256_set1_epi32(HALF), a1 = a0, a2 = a0, a3 = a0;
            const uint8_t *p = first + b;
            for (int i = 0; i < count; i++, p += row_bytes) {
                __m256i w = _mm256_set1_epi32(k[i]);
                a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p)), w));
                a1 = _mm256_add_epi32(a1, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 8))), w));
                a2 = _mm256_add_epi32(a2, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 16))), w));
                a3 = _mm256_add_epi32(a3, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 24))), w));
            }
            __m256i s01 = _mm256_packs_epi32(_mm256_srai_epi32(a0, PRECISION_BITS), _mm256_srai_epi32(a1, PRECISION_BITS));
            __m256i s23 = _mm256_packs_epi32(_mm256_srai_epi32(a2, PRECISION_BITS), _mm256_srai_epi32(a3, PRECISION_BITS));
            __m256i bytes = _mm256_packus_epi16(s01, s23);
            bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256((__m256i *)(o + b), bytes);
        }
        for (; b < row_bytes; b++) {
            int32_t s = HALF;
            for (int i = 0; i < count; i++) s += first[(size_t)i * row_bytes + b] * k[i];
            o[b] = clip8(s);
        }
    }
}

FFK_TARGET_AVX512 static void vertical_avx512(const uint8_t *in, size_t row_bytes, uint8_t *out, int out_height,
                                              const int32_t *bounds, const int32_t *weights, int ksize) {
    __m512i zero = _mm512_setzero_si512();
    for (int yy = 0; yy < out_height; yy++) {
        const uint8_t *first = in + (size_t)bounds[2 * yy] * row_bytes;
        const int32_t *k = weights + (size_t)yy * ksize;
        int count = bounds[2 * yy + 1];
        uint8_t *o = out + (size_t)yy * row_bytes;
        size_t b = 0;
        for (; b + 64 <= row_bytes; b += 64) {
            __m512i a0 = _mm512_set1_epi32(HALF), a1 = a0, a2 = a0, a3 = a0;
            const uint8_t *p = first + b;
            for (int i = 0; i < count; i++, p += row_bytes) {
                __m512i w = _mm512_set1_epi32(k[i]);
                a0 = _mm512_add_epi32(a0, _mm512_mullo_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p)), w));
                a1 = _mm512_add_epi32(a1, _mm512_mullo_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + 16))), w));
                a2 = _mm512_add_epi32(a2, _mm512_mullo_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + 32))), w));
                a3 = _mm512_add_epi32(a3, _mm512_mullo_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + 48))), w));
            }
            _mm_storeu_si128((__m128i *)(o + b), _mm512_cvtusepi32_epi8(_mm512_max_epi32(_mm512_srai_epi32(a0, PRECISION_BITS), zero)));
            _mm_storeu_si128((__m128i *)(o + b + 16), _mm512_cvtusepi32_epi8(_mm512_max_epi32(_mm512_srai_epi32(a1, PRECISION_BITS), zero)));
            _mm_storeu_si128((__m128i *)(o + b + 32), _mm512_cvtusepi32_epi8(_mm512_max_epi32(_mm512_srai_epi32(a2, PRECISION_BITS), zero)));
            _mm_storeu_si128((__m128i *)(o + b + 48), _mm512_cvtusepi32_epi8(_mm512_max_epi32(_mm512_srai_epi32(a3, PRECISION_BITS), zero)));
        }
        for (; b + 16 <= row_bytes; b += 16) {
            __m512i a = _mm512_set1_epi32(HALF);
            const uint8_t *p = first + b;
            for (int i = 0; i < count; i++, p += row_bytes) {
                a = _mm512_add_epi32(a, _mm512_mullo_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p)),
                                                           _mm512_set1_epi32(k[i])));
            }
            _mm_storeu_si128((__m128i *)(o + b), _mm512_cvtusepi32_epi8(_mm512_max_epi32(_mm512_srai_epi32(a, PRECISION_BITS), zero)));
        }
        for (; b < row_bytes; b++) {
            int32_t s = HALF;
            for (int i = 0; i < count; i++) s += first[(size_t)i * row_bytes + b] * k[i];
            o[b] = clip8(s);
        }
    }
}

#endif

// ---------------------------------------------------------------------------------------------
// Dispatch

int ffk_resample_horizontal_rgb(const uint8_t *in, size_t in_stride, int rows, int in_width, uint8_t *out,
                                int out_width, const int32_t *bounds, const int32_t *weights, int ksize) {
    if (rows <= 0 || out_width <= 0) return 0;
#if defined(__x86_64__) || defined(__i386__)
    int level = ffk_level();
    if (level >= FFK_LEVEL_AVX2) {
        int x_begin, x_end;
        tap_range(out_width, bounds, &x_begin, &x_end);
        int block_rows = level >= FFK_LEVEL_AVX512 ? 16 : 8;
        uint32_t *columns = malloc(sizeof(uint32_t) * (size_t)block_rows * (size_t)(x_end - x_begin + 1));
        if (!columns) return -1;
        if (level >= FFK_LEVEL_AVX512) {
            horizontal_avx512(in, in_stride, rows, out, out_width, bounds, weights, ksize, columns, in_width, x_begin,
                              x_end);
        } else {
            horizontal_avx2(in, in_stride, rows, out, out_width, bounds, weights, ksize, columns, in_width, x_begin,
                            x_end);
        }
        free(columns);
        return 0;
    }
#endif
    (void)in_width;
    horizontal_portable(in, in_stride, rows, out, out_width, bounds, weights, ksize);
    return 0;
}

void ffk_resample_vertical_rgb(const uint8_t *in, size_t row_bytes, uint8_t *out, int out_height,
                               const int32_t *bounds, const int32_t *weights, int ksize) {
#if defined(__x86_64__) || defined(__i386__)
    int level = ffk_level();
    if (level >= FFK_LEVEL_AVX512) {
        vertical_avx512(in, row_bytes, out, out_height, bounds, weights, ksize);
        return;
    }
    if (level >= FFK_LEVEL_AVX2) {
        vertical_avx2(in, row_bytes, out, out_height, bounds, weights, ksize);
        return;
    }
#endif
    vertical_portable(in, row_bytes, out, out_height, bounds, weights, ksize);
}
