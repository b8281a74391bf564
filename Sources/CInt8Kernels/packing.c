// Packing for the int8 GEMM: see cohort_int8.h for the layouts. Plain C for every ISA (SSE2 on x86-64, which
// every x86-64 has): packing moves k·(m + n) bytes against the kernel's 2·m·n·k operations, but at m = 128 a
// byte-at-a-time B packing cost twice the VNNI kernel itself, so full groups move 4 bytes (A) or 16 × 4 bytes
// (B, a 4 × 16 byte transpose) at a time and only the k tail goes byte by byte.
#include <string.h>
#include "cohort_int8.h"
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static inline uint32_t load4(const int8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

void cohort_i8_pack_a_bytes(const int8_t *a, long lda, long rows, long k, long mr, uint8_t *out) {
    long groups = (k + 3) / 4, full = k / 4;
    for (long i0 = 0; i0 < rows; i0 += mr) {
        long live = rows - i0 < mr ? rows - i0 : mr;
        for (long q = 0; q < groups; q++) {
            for (long r = 0; r < mr; r++, out += 4) {
                const int8_t *src = a + (i0 + r) * lda + 4 * q;
                uint32_t v = 0;
                if (r < live && q < full) {
                    v = load4(src) ^ 0x80808080u;
                } else if (r < live) {
                    for (long g = 0; 4 * q + g < k; g++) v |= (uint32_t)((uint8_t)src[g] ^ 0x80u) << (8 * g);
                }
                memcpy(out, &v, 4);
            }
        }
    }
}

void cohort_i8_pack_a_words(const int8_t *a, long lda, long rows, long k, long mr, int16_t *out) {
    long pairs = (k + 1) / 2;
    for (long i0 = 0; i0 < rows; i0 += mr) {
        long live = rows - i0 < mr ? rows - i0 : mr;
        for (long q = 0; q < pairs; q++) {
            for (long r = 0; r < mr; r++, out += 2) {
                const int8_t *src = a + (i0 + r) * lda + 2 * q;
                out[0] = r < live ? src[0] : 0;
                out[1] = r < live && 2 * q + 1 < k ? src[1] : 0;
            }
        }
    }
}

/// Four source rows' 16 columns as 16 lanes of 4 bytes (lane c = rows 0..3 of column c).
static void interleave4x16(const int8_t *r0, const int8_t *r1, const int8_t *r2, const int8_t *r3, int8_t *dst) {
#if defined(__SSE2__)
    __m128i x0 = _mm_loadu_si128((const __m128i *)r0), x1 = _mm_loadu_si128((const __m128i *)r1);
    __m128i x2 = _mm_loadu_si128((const __m128i *)r2), x3 = _mm_loadu_si128((const __m128i *)r3);
    __m128i lo01 = _mm_unpacklo_epi8(x0, x1), hi01 = _mm_unpackhi_epi8(x0, x1);
    __m128i lo23 = _mm_unpacklo_epi8(x2, x3), hi23 = _mm_unpackhi_epi8(x2, x3);
    _mm_storeu_si128((__m128i *)dst, _mm_unpacklo_epi16(lo01, lo23));
    _mm_storeu_si128((__m128i *)(dst + 16), _mm_unpackhi_epi16(lo01, lo23));
    _mm_storeu_si128((__m128i *)(dst + 32), _mm_unpacklo_epi16(hi01, hi23));
    _mm_storeu_si128((__m128i *)(dst + 48), _mm_unpackhi_epi16(hi01, hi23));
#else
    for (int c = 0; c < 16; c++) {
        dst[4 * c] = r0[c];
        dst[4 * c + 1] = r1[c];
        dst[4 * c + 2] = r2[c];
        dst[4 * c + 3] = r3[c];
    }
#endif
}

/// One panel's group q: whole 16-column chunks by transposes, the rest (and the k tail) byte by byte.
static void pack_b_group(const int8_t *b, long ldb, long k, long q, long w, long nr, int8_t *dst) {
    const int8_t *r0 = b + 4 * q * ldb;
    long c = 0;
    if (4 * q + 3 < k) {
        for (; c + 16 <= w; c += 16) interleave4x16(r0 + c, r0 + ldb + c, r0 + 2 * ldb + c, r0 + 3 * ldb + c, dst + 4 * c);
    }
    for (; c < nr; c++) {
        for (long g = 0; g < 4; g++) dst[4 * c + g] = (c < w && 4 * q + g < k) ? r0[g * ldb + c] : 0;
    }
}

/// B in panels of nr columns; `correction[j]` = 128·Σ_p b[p][j] for the u8 offset of A.
void cohort_i8_pack_b_bytes(const int8_t *b, long ldb, long k, long cols, long nr, int8_t *out, int32_t *correction) {
    long groups = (k + 3) / 4;
    for (long j0 = 0; j0 < cols; j0 += nr) {
        long w = cols - j0 < nr ? cols - j0 : nr;
        int8_t *panel = out + (j0 / nr) * groups * nr * 4;
        for (long q = 0; q < groups; q++) pack_b_group(b + j0, ldb, k, q, w, nr, panel + q * nr * 4);
    }
    for (long j = 0; j < cols; j++) correction[j] = 0;
    for (long p = 0; p < k; p++) {
        const int8_t *row = b + p * ldb;
        for (long j = 0; j < cols; j++) correction[j] += row[j];
    }
    for (long j = 0; j < cols; j++) correction[j] *= 128;
}

void cohort_i8_pack_b_words(const int8_t *b, long ldb, long k, long cols, long nr, int16_t *out) {
    long pairs = (k + 1) / 2;
    for (long j0 = 0; j0 < cols; j0 += nr) {
        long w = cols - j0 < nr ? cols - j0 : nr;
        for (long q = 0; q < pairs; q++) {
            int16_t *dst = out + (j0 / nr) * pairs * nr * 2 + q * nr * 2;
            const int8_t *r0 = b + 2 * q * ldb + j0;
            const int8_t *r1 = 2 * q + 1 < k ? r0 + ldb : NULL;
            for (long c = 0; c < nr; c++) {
                dst[2 * c] = c < w ? r0[c] : 0;
                dst[2 * c + 1] = (c < w && r1) ? r1[c] : 0;
            }
        }
    }
}
