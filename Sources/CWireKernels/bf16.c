// bf16: the upper 16 bits of an fp32, rounded to nearest even in integer arithmetic (a NaN stays a quiet NaN). No
// hardware bf16 conversion is used (vcvtneps2bf16 flushes denormals), so every variant gives the same bits.
#include "cohort_wire.h"

#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl")))
#define AVX2_TARGET __attribute__((target("avx2,f16c")))
#endif

#define EXPORTED(name) cohort_bf16_##name

static inline uint16_t to_wire(float x) {
    uint32_t b;
    memcpy(&b, &x, 4);
    if (x != x) return (uint16_t)((b >> 16) | 0x40);
    return (uint16_t)((b + 0x7FFFu + ((b >> 16) & 1u)) >> 16);
}

static inline float from_wire(uint16_t h) {
    uint32_t b = (uint32_t)h << 16;
    float x;
    memcpy(&x, &b, 4);
    return x;
}

#if defined(__x86_64__)
/// The rounded upper halves of 16 (8) floats, as 32-bit lanes.
AVX512_TARGET static inline __m512i rounded16(__m512 x) {
    __m512i b = _mm512_castps_si512(x);
    __m512i high = _mm512_srli_epi32(b, 16);
    __m512i lsb = _mm512_and_si512(high, _mm512_set1_epi32(1));
    __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(0x7FFF)), lsb), 16);
    __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    return _mm512_mask_mov_epi32(rounded, nan, _mm512_or_si512(high, _mm512_set1_epi32(0x40)));
}
AVX512_TARGET static inline __m256i wire16(__m512 x) { return _mm512_cvtepi32_epi16(rounded16(x)); }
AVX512_TARGET static inline __m512 float16x(__m256i h) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

AVX2_TARGET static inline __m256i rounded8(__m256 x) {
    __m256i b = _mm256_castps_si256(x);
    __m256i high = _mm256_srli_epi32(b, 16);
    __m256i lsb = _mm256_and_si256(high, _mm256_set1_epi32(1));
    __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(b, _mm256_set1_epi32(0x7FFF)), lsb), 16);
    __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(x, x, _CMP_UNORD_Q));
    return _mm256_blendv_epi8(rounded, _mm256_or_si256(high, _mm256_set1_epi32(0x40)), nan);
}
// Every lane holds 0…0xFFFF, so the unsigned-saturating pack is exact; it interleaves 128-bit halves, which the
// permute puts back in order.
AVX2_TARGET static inline __m256i wire8x2(__m256 lo, __m256 hi) {
    return _mm256_permute4x64_epi64(_mm256_packus_epi32(rounded8(lo), rounded8(hi)), 0xD8);
}
AVX2_TARGET static inline __m256 float8x(__m128i h) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
#endif

#include "wire_loops.h"
