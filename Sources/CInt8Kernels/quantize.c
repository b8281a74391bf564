// Activation quantization before the int8 GEMM: out[i] = round-half-even(clamp(x[i] · inverse_scale, −127, 127)),
// NaN → −127 (the clamp's max(x, −127) picks −127 for NaN, as `maxps` does). Vectorised per ISA because a scalar
// loop cost more than the int8 GEMM itself at batch 128 (one fp32 → int8 per input value).
#include <immintrin.h>
#include <math.h>
#include "cohort_int8.h"

static inline int8_t quantize_one(float x, float inverse) {
    float v = x * inverse;
    v = v > -127.0f ? v : -127.0f;
    v = v < 127.0f ? v : 127.0f;
    return (int8_t)nearbyintf(v);
}

void cohort_i8_quantize_portable(const float *x, long n, float inverse, int8_t *out) {
    for (long i = 0; i < n; i++) out[i] = quantize_one(x[i], inverse);
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) void cohort_i8_quantize_avx512(const float *x, long n, float inverse, int8_t *out) {
    __m512 inv = _mm512_set1_ps(inverse), lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), inv), lo), hi);
        _mm_storeu_si128((__m128i *)(out + i), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(v)));
    }
    for (; i < n; i++) out[i] = quantize_one(x[i], inverse);
}

__attribute__((target("avx2,fma"))) void cohort_i8_quantize_avx2(const float *x, long n, float inverse, int8_t *out) {
    __m256 inv = _mm256_set1_ps(inverse), lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), inv), lo), hi);
        __m256i q = _mm256_cvtps_epi32(v);
        __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
        _mm_storel_epi64((__m128i *)(out + i), _mm_packs_epi16(w, w));
    }
    for (; i < n; i++) out[i] = quantize_one(x[i], inverse);
}
