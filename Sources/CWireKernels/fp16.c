// fp16: IEEE binary16, round to nearest even. Without F16C each conversion is a libcall (__truncsfhf2, as Swift's
// Float16(x) is on baseline x86-64), some 30 times slower per element than bf16's. F16C's conversions are the same
// IEEE rounding, so the variants agree on every non-NaN value; a NaN stays a NaN (its payload bits may differ,
// which nothing reads: a NaN gradient's step is skipped and keeps no residual).
#include "cohort_wire.h"

#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl")))
#define AVX2_TARGET __attribute__((target("avx2,f16c")))
#define ROUND_EVEN (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#endif

#define EXPORTED(name) cohort_f16_##name

static inline uint16_t to_wire(float x) {
    _Float16 h = (_Float16)x;
    uint16_t bits;
    memcpy(&bits, &h, 2);
    return bits;
}

static inline float from_wire(uint16_t bits) {
    _Float16 h;
    memcpy(&h, &bits, 2);
    return (float)h;
}

#if defined(__x86_64__)
AVX512_TARGET static inline __m256i wire16(__m512 x) { return _mm512_cvtps_ph(x, ROUND_EVEN); }
AVX512_TARGET static inline __m512 float16x(__m256i h) { return _mm512_cvtph_ps(h); }

AVX2_TARGET static inline __m256i wire8x2(__m256 lo, __m256 hi) {
    return _mm256_set_m128i(_mm256_cvtps_ph(hi, ROUND_EVEN), _mm256_cvtps_ph(lo, ROUND_EVEN));
}
AVX2_TARGET static inline __m256 float8x(__m128i h) { return _mm256_cvtph_ps(h); }
#endif

#include "wire_loops.h"
