// The AVX2 micro-kernel: a 4 × 16 tile of int32 accumulators (8 ymm) over s16 pairs, one `vpmaddwd` + `vpaddd`
// per row and vector per k pair (16 multiply-adds, exact; see cohort_int8.h for why not `vpmaddubsw`).
// Full tiles store float and int32 results with vector code; int8 outputs and edge tiles go through the scalar store.
#include <immintrin.h>
#include <string.h>
#include "cohort_int8.h"

#define AVX2_TARGET __attribute__((target("avx2,fma")))
enum { MR = COHORT_I8_AVX2_MR, NV = COHORT_I8_AVX2_NR / 8 };

AVX2_TARGET static inline void avx2_store(__m256i acc, long r, long c0, const cohort_i8_store *s) {
    __m256i v = _mm256_loadu_si256((const __m256i *)(s->correction + c0));
    v = _mm256_sub_epi32(acc, v);
    long at = r * s->ldc + c0;
    if (s->kind == 0) {
        _mm256_storeu_si256((__m256i *)((int32_t *)s->c + at), v);
        return;
    }
    __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(v), _mm256_loadu_ps(s->scale + c0));
    if (s->bias) f = _mm256_add_ps(f, _mm256_loadu_ps(s->bias + c0));
    if (s->relu) f = _mm256_max_ps(f, _mm256_setzero_ps());
    _mm256_storeu_ps((float *)s->c + at, f);
}

AVX2_TARGET void cohort_i8_tile_avx2(long groups, const int16_t *a, const int16_t *b, long rows, long cols, const cohort_i8_store *s) {
    __m256i acc[MR][NV];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++) acc[r][v] = _mm256_setzero_si256();
    for (long q = 0; q < groups; q++) {
        __m256i bv[NV];
        for (int v = 0; v < NV; v++) bv[v] = _mm256_loadu_si256((const __m256i *)(b + 16 * v));
        for (int r = 0; r < MR; r++) {
            int32_t pair;
            memcpy(&pair, a + 2 * r, 4);
            __m256i ar = _mm256_set1_epi32(pair);
            for (int v = 0; v < NV; v++) acc[r][v] = _mm256_add_epi32(acc[r][v], _mm256_madd_epi16(ar, bv[v]));
        }
        a += 2 * MR;
        b += 16 * NV;
    }
    if (rows == MR && cols == COHORT_I8_AVX2_NR && s->kind != 2) {
        for (int r = 0; r < MR; r++)
            for (int v = 0; v < NV; v++) avx2_store(acc[r][v], r, 8 * v, s);
        return;
    }
    int32_t tile[MR * COHORT_I8_AVX2_NR];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++) _mm256_storeu_si256((__m256i *)(tile + r * COHORT_I8_AVX2_NR + 8 * v), acc[r][v]);
    cohort_i8_store_scalar(tile, COHORT_I8_AVX2_NR, rows, cols, s);
}
