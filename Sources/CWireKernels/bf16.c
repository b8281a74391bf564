#include "cohort_wire.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <math.h>
#include <string.h>

// ---- portable: the definition every variant matches ----

static inline uint16_t bf16_of(float x) {
    uint32_t b;
    memcpy(&b, &x, 4);
    if (x != x) return (uint16_t)((b >> 16) | 0x40);
    return (uint16_t)((b + 0x7FFFu + ((b >> 16) & 1u)) >> 16);
}

static inline float float_of(uint16_t h) {
    uint32_t b = (uint32_t)h << 16;
    float x;
    memcpy(&x, &b, 4);
    return x;
}

static void encode_portable(const float *src, long n, uint16_t *out) {
    for (long i = 0; i < n; i++) out[i] = bf16_of(src[i]);
}
static void decode_portable(const uint16_t *src, long n, float *dst) {
    for (long i = 0; i < n; i++) dst[i] = float_of(src[i]);
}
static void accumulate_portable(const uint16_t *src, long n, float *dst) {
    for (long i = 0; i < n; i++) dst[i] += float_of(src[i]);
}
static void accumulate_divide_portable(const uint16_t *src, long n, float divisor, float *dst) {
    for (long i = 0; i < n; i++) dst[i] = (dst[i] + float_of(src[i])) / divisor;
}
static void quantize_portable(float *dst, long n) {
    for (long i = 0; i < n; i++) dst[i] = float_of(bf16_of(dst[i]));
}
// A non-finite x (a NaN or infinite gradient, or one that rounds to infinity) leaves a residual of 0: the step is
// skipped by the trainer, and a NaN kept here would come back in every later step.
static inline float finite_or_zero(float d) { return fabsf(d) < INFINITY ? d : 0.0f; }

static void round_with_residual_portable(float *g, float *r, long n) {
    for (long i = 0; i < n; i++) {
        float x = g[i] + r[i];
        float q = float_of(bf16_of(x));
        g[i] = q;
        r[i] = finite_or_zero(x - q);
    }
}

#if defined(__x86_64__)

// ---- AVX-512 (F + BW): 16 lanes ----
#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl")))

AVX512_TARGET static inline __m512i bf16_bits16(__m512 x) {
    __m512i b = _mm512_castps_si512(x);
    __m512i high = _mm512_srli_epi32(b, 16);
    __m512i lsb = _mm512_and_si512(high, _mm512_set1_epi32(1));
    __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(0x7FFF)), lsb), 16);
    __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    return _mm512_mask_mov_epi32(rounded, nan, _mm512_or_si512(high, _mm512_set1_epi32(0x40)));
}
AVX512_TARGET static inline __m512 quantized16(__m512 x) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(bf16_bits16(x), 16));
}
AVX512_TARGET static inline __m512 load_bf16x16(const uint16_t *p) {
    __m256i h = _mm256_loadu_si256((const __m256i *)p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

AVX512_TARGET static void encode_avx512(const float *src, long n, uint16_t *out) {
    long i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(out + i), _mm512_cvtepi32_epi16(bf16_bits16(_mm512_loadu_ps(src + i))));
    encode_portable(src + i, n - i, out + i);
}
AVX512_TARGET static void decode_avx512(const uint16_t *src, long n, float *dst) {
    long i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, load_bf16x16(src + i));
    decode_portable(src + i, n - i, dst + i);
}
AVX512_TARGET static void accumulate_avx512(const uint16_t *src, long n, float *dst) {
    long i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, _mm512_add_ps(_mm512_loadu_ps(dst + i), load_bf16x16(src + i)));
    accumulate_portable(src + i, n - i, dst + i);
}
AVX512_TARGET static void accumulate_divide_avx512(const uint16_t *src, long n, float divisor, float *dst) {
    __m512 d = _mm512_set1_ps(divisor);
    long i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, _mm512_div_ps(_mm512_add_ps(_mm512_loadu_ps(dst + i), load_bf16x16(src + i)), d));
    accumulate_divide_portable(src + i, n - i, divisor, dst + i);
}
AVX512_TARGET static void quantize_avx512(float *dst, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, quantized16(_mm512_loadu_ps(dst + i)));
    quantize_portable(dst + i, n - i);
}
AVX512_TARGET static void round_with_residual_avx512(float *g, float *r, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 x = _mm512_add_ps(_mm512_loadu_ps(g + i), _mm512_loadu_ps(r + i));
        __m512 q = quantized16(x);
        __m512 d = _mm512_sub_ps(x, q);
        __m512 magnitude = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(d), _mm512_set1_epi32(0x7FFFFFFF)));
        __mmask16 finite = _mm512_cmp_ps_mask(magnitude, _mm512_set1_ps(INFINITY), _CMP_LT_OQ);
        _mm512_storeu_ps(g + i, q);
        _mm512_storeu_ps(r + i, _mm512_maskz_mov_ps(finite, d));
    }
    round_with_residual_portable(g + i, r + i, n - i);
}

// ---- AVX2: 8 lanes ----
#define AVX2_TARGET __attribute__((target("avx2")))

AVX2_TARGET static inline __m256i bf16_bits8(__m256 x) {
    __m256i b = _mm256_castps_si256(x);
    __m256i high = _mm256_srli_epi32(b, 16);
    __m256i lsb = _mm256_and_si256(high, _mm256_set1_epi32(1));
    __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(b, _mm256_set1_epi32(0x7FFF)), lsb), 16);
    __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(x, x, _CMP_UNORD_Q));
    return _mm256_blendv_epi8(rounded, _mm256_or_si256(high, _mm256_set1_epi32(0x40)), nan);
}
AVX2_TARGET static inline __m256 quantized8(__m256 x) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(bf16_bits8(x), 16));
}
AVX2_TARGET static inline __m256 load_bf16x8(const uint16_t *p) {
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

AVX2_TARGET static void encode_avx2(const float *src, long n, uint16_t *out) {
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        // Every lane holds 0…0xFFFF, so the unsigned-saturating pack is exact; it interleaves 128-bit halves,
        // which the permute puts back in order.
        __m256i lo = bf16_bits8(_mm256_loadu_ps(src + i)), hi = bf16_bits8(_mm256_loadu_ps(src + i + 8));
        __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xD8);
        _mm256_storeu_si256((__m256i *)(out + i), packed);
    }
    encode_portable(src + i, n - i, out + i);
}
AVX2_TARGET static void decode_avx2(const uint16_t *src, long n, float *dst) {
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load_bf16x8(src + i));
    decode_portable(src + i, n - i, dst + i);
}
AVX2_TARGET static void accumulate_avx2(const uint16_t *src, long n, float *dst) {
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_add_ps(_mm256_loadu_ps(dst + i), load_bf16x8(src + i)));
    accumulate_portable(src + i, n - i, dst + i);
}
AVX2_TARGET static void accumulate_divide_avx2(const uint16_t *src, long n, float divisor, float *dst) {
    __m256 d = _mm256_set1_ps(divisor);
    long i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_div_ps(_mm256_add_ps(_mm256_loadu_ps(dst + i), load_bf16x8(src + i)), d));
    accumulate_divide_portable(src + i, n - i, divisor, dst + i);
}
AVX2_TARGET static void quantize_avx2(float *dst, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, quantized8(_mm256_loadu_ps(dst + i)));
    quantize_portable(dst + i, n - i);
}
AVX2_TARGET static void round_with_residual_avx2(float *g, float *r, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_add_ps(_mm256_loadu_ps(g + i), _mm256_loadu_ps(r + i));
        __m256 q = quantized8(x);
        __m256 d = _mm256_sub_ps(x, q);
        __m256 magnitude = _mm256_and_ps(d, _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF)));
        __m256 finite = _mm256_cmp_ps(magnitude, _mm256_set1_ps(INFINITY), _CMP_LT_OQ);
        _mm256_storeu_ps(g + i, q);
        _mm256_storeu_ps(r + i, _mm256_and_ps(finite, d));
    }
    round_with_residual_portable(g + i, r + i, n - i);
}

int cohort_wire_isa_supported(int isa) {
    switch (isa) {
    case COHORT_WIRE_PORTABLE: return 1;
    case COHORT_WIRE_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
    case COHORT_WIRE_AVX512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl");
    default: return 0;
    }
}

#define DISPATCH(isa, name, ...)              \
    do {                                      \
        int chosen = (isa);                   \
        if (chosen == COHORT_WIRE_AVX512)     \
            name##_avx512(__VA_ARGS__);       \
        else if (chosen == COHORT_WIRE_AVX2)  \
            name##_avx2(__VA_ARGS__);         \
        else                                  \
            name##_portable(__VA_ARGS__);     \
    } while (0)

#else

int cohort_wire_isa_supported(int isa) { return isa == COHORT_WIRE_PORTABLE; }

#define DISPATCH(isa, name, ...)     \
    do {                             \
        (void)(isa);                 \
        name##_portable(__VA_ARGS__); \
    } while (0)

#endif

int cohort_wire_best_isa(void) {
    if (cohort_wire_isa_supported(COHORT_WIRE_AVX512)) return COHORT_WIRE_AVX512;
    if (cohort_wire_isa_supported(COHORT_WIRE_AVX2)) return COHORT_WIRE_AVX2;
    return COHORT_WIRE_PORTABLE;
}

// A variant the CPU lacks is never run: the Swift side passes only what cohort_wire_isa_supported allowed, and this
// guard keeps a wrong argument from reaching an illegal instruction.
static inline int usable(int isa) { return cohort_wire_isa_supported(isa) ? isa : COHORT_WIRE_PORTABLE; }

void cohort_bf16_encode(int isa, const float *src, long n, uint16_t *out) { DISPATCH(usable(isa), encode, src, n, out); }
void cohort_bf16_decode(int isa, const uint16_t *src, long n, float *dst) { DISPATCH(usable(isa), decode, src, n, dst); }
void cohort_bf16_accumulate(int isa, const uint16_t *src, long n, float *dst) {
    DISPATCH(usable(isa), accumulate, src, n, dst);
}
void cohort_bf16_accumulate_divide(int isa, const uint16_t *src, long n, float divisor, float *dst) {
    DISPATCH(usable(isa), accumulate_divide, src, n, divisor, dst);
}
void cohort_bf16_quantize(int isa, float *dst, long n) { DISPATCH(usable(isa), quantize, dst, n); }
void cohort_bf16_round_with_residual(int isa, float *g, float *residual, long n) {
    DISPATCH(usable(isa), round_with_residual, g, residual, n);
}
