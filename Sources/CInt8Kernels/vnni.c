// The AVX-512 VNNI micro-kernel: an 8 × 32 tile of int32 accumulators (16 zmm), one `vpdpbusd` per row and
// vector per k group of 4, so each instruction does 64 multiply-adds where an fp32 FMA does 16.
// Requantization is fused into the store: masked vector stores cover partial columns, rows past `rows` are skipped.
#include <immintrin.h>
#include <string.h>
#include "cohort_int8.h"

#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))
enum { MR = COHORT_I8_VNNI_MR, NV = COHORT_I8_VNNI_NR / 16 };

VNNI_TARGET static inline __m512 vnni_to_float(__m512i v, long c0, __mmask16 m, const cohort_i8_store *s) {
    __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(v), _mm512_maskz_loadu_ps(m, s->scale + c0));
    if (s->bias) f = _mm512_add_ps(f, _mm512_maskz_loadu_ps(m, s->bias + c0));
    if (s->relu) f = _mm512_max_ps(f, _mm512_setzero_ps());
    return f;
}

VNNI_TARGET static inline void vnni_store(__m512i acc, long r, long c0, __mmask16 m, const cohort_i8_store *s) {
    __m512i v = _mm512_sub_epi32(acc, _mm512_maskz_loadu_epi32(m, s->correction + c0));
    long at = r * s->ldc + c0;
    if (s->kind == 0) {
        _mm512_mask_storeu_epi32((int32_t *)s->c + at, m, v);
    } else if (s->kind == 1) {
        _mm512_mask_storeu_ps((float *)s->c + at, m, vnni_to_float(v, c0, m, s));
    } else {
        __m512 x = _mm512_mul_ps(vnni_to_float(v, c0, m, s), _mm512_set1_ps(s->inverse_output_scale));
        x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-128.0f)), _mm512_set1_ps(127.0f));
        _mm512_mask_cvtsepi32_storeu_epi8((int8_t *)s->c + at, m, _mm512_cvtps_epi32(x));
    }
}

VNNI_TARGET void cohort_i8_tile_vnni(long groups, const uint8_t *a, const int8_t *b, long rows, long cols, const cohort_i8_store *s) {
    __m512i acc[MR][NV];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_si512();
    for (long q = 0; q < groups; q++) {
        __m512i bv[NV];
        for (int v = 0; v < NV; v++) bv[v] = _mm512_loadu_si512(b + 64 * v);
        for (int r = 0; r < MR; r++) {
            int32_t quad;
            memcpy(&quad, a + 4 * r, 4);
            __m512i ar = _mm512_set1_epi32(quad);
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], ar, bv[v]);
        }
        a += 4 * MR;
        b += 64 * NV;
    }
    for (int v = 0; v < NV; v++) {
        long left = cols - 16 * v;
        if (left <= 0) break;
        __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        for (int r = 0; r < MR && r < rows; r++) vnni_store(acc[r][v], r, 16 * v, m, s);
    }
}
