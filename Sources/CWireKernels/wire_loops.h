// The element-wise loops of a 2-byte wire format, written once and included by each format's file (bf16.c,
// fp16.c), which first defines its conversions:
//   EXPORTED(name)                         the exported function's name (cohort_bf16_##name, cohort_f16_##name)
//   to_wire(float) -> uint16_t, from_wire(uint16_t) -> float     the scalar definition (portable, and every tail)
//   wire16(__m512) -> __m256i, float16x(__m256i) -> __m512        16 lanes, in an AVX512_TARGET function
//   wire8x2(__m256, __m256) -> __m256i, float8x(__m128i) -> __m256  8 lanes (two at a time to 16), AVX2_TARGET
// Each variant computes x + r, x − q and (a + b) / d exactly as the portable loop does, so they agree bit for bit
// wherever the conversions do.
#include <math.h>

// A non-finite x (a NaN or infinite gradient, or one that rounds to infinity) keeps a residual of 0: the trainer
// skips that step, and a NaN kept here would come back in every later step.
static inline float finite_or_zero(float d) { return fabsf(d) < INFINITY ? d : 0.0f; }

static void encode_portable(const float *src, long n, uint16_t *out) {
    for (long i = 0; i < n; i++) out[i] = to_wire(src[i]);
}
static void decode_portable(const uint16_t *src, long n, float *dst) {
    for (long i = 0; i < n; i++) dst[i] = from_wire(src[i]);
}
static void accumulate_portable(const uint16_t *src, long n, float *dst) {
    for (long i = 0; i < n; i++) dst[i] += from_wire(src[i]);
}
static void accumulate_divide_portable(const uint16_t *src, long n, float divisor, float *dst) {
    for (long i = 0; i < n; i++) dst[i] = (dst[i] + from_wire(src[i])) / divisor;
}
static void quantize_portable(float *dst, long n) {
    for (long i = 0; i < n; i++) dst[i] = from_wire(to_wire(dst[i]));
}
static void round_with_residual_portable(float *g, float *r, long n) {
    for (long i = 0; i < n; i++) {
        float x = g[i] + r[i];
        float q = from_wire(to_wire(x));
        g[i] = q;
        r[i] = finite_or_zero(x - q);
    }
}

#if defined(__x86_64__)

// ---- AVX-512: 16 lanes ----
AVX512_TARGET static inline __m512 load16(const uint16_t *p) {
    return float16x(_mm256_loadu_si256((const __m256i *)p));
}
AVX512_TARGET static inline __m512 quantized16(__m512 x) { return float16x(wire16(x)); }

AVX512_TARGET static void encode_avx512(const float *src, long n, uint16_t *out) {
    long i = 0;
    for (; i + 16 <= n; i += 16) _mm256_storeu_si256((__m256i *)(out + i), wire16(_mm512_loadu_ps(src + i)));
    encode_portable(src + i, n - i, out + i);
}
AVX512_TARGET static void decode_avx512(const uint16_t *src, long n, float *dst) {
    long i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, load16(src + i));
    decode_portable(src + i, n - i, dst + i);
}
AVX512_TARGET static void accumulate_avx512(const uint16_t *src, long n, float *dst) {
    long i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, _mm512_add_ps(_mm512_loadu_ps(dst + i), load16(src + i)));
    accumulate_portable(src + i, n - i, dst + i);
}
AVX512_TARGET static void accumulate_divide_avx512(const uint16_t *src, long n, float divisor, float *dst) {
    __m512 d = _mm512_set1_ps(divisor);
    long i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, _mm512_div_ps(_mm512_add_ps(_mm512_loadu_ps(dst + i), load16(src + i)), d));
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
AVX2_TARGET static inline __m256 load8(const uint16_t *p) { return float8x(_mm_loadu_si128((const __m128i *)p)); }
AVX2_TARGET static inline __m256 quantized8(__m256 x) {
    __m256i both = wire8x2(x, x);
    return float8x(_mm256_castsi256_si128(both));
}

AVX2_TARGET static void encode_avx2(const float *src, long n, uint16_t *out) {
    long i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(out + i), wire8x2(_mm256_loadu_ps(src + i), _mm256_loadu_ps(src + i + 8)));
    encode_portable(src + i, n - i, out + i);
}
AVX2_TARGET static void decode_avx2(const uint16_t *src, long n, float *dst) {
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load8(src + i));
    decode_portable(src + i, n - i, dst + i);
}
AVX2_TARGET static void accumulate_avx2(const uint16_t *src, long n, float *dst) {
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_add_ps(_mm256_loadu_ps(dst + i), load8(src + i)));
    accumulate_portable(src + i, n - i, dst + i);
}
AVX2_TARGET static void accumulate_divide_avx2(const uint16_t *src, long n, float divisor, float *dst) {
    __m256 d = _mm256_set1_ps(divisor);
    long i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_div_ps(_mm256_add_ps(_mm256_loadu_ps(dst + i), load8(src + i)), d));
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

#define DISPATCH(isa, name, ...)             \
    do {                                     \
        int chosen = (isa);                  \
        if (chosen == COHORT_WIRE_AVX512)    \
            name##_avx512(__VA_ARGS__);      \
        else if (chosen == COHORT_WIRE_AVX2) \
            name##_avx2(__VA_ARGS__);        \
        else                                 \
            name##_portable(__VA_ARGS__);    \
    } while (0)

#else

#define DISPATCH(isa, name, ...)      \
    do {                              \
        (void)(isa);                  \
        name##_portable(__VA_ARGS__); \
    } while (0)

#endif

// A variant the CPU lacks is never run: the Swift side passes only what cohort_wire_isa_supported allowed, and this
// guard keeps a wrong argument from reaching an illegal instruction.
static inline int usable(int isa) { return cohort_wire_isa_supported(isa) ? isa : COHORT_WIRE_PORTABLE; }

void EXPORTED(encode)(int isa, const float *src, long n, uint16_t *out) { DISPATCH(usable(isa), encode, src, n, out); }
void EXPORTED(decode)(int isa, const uint16_t *src, long n, float *dst) { DISPATCH(usable(isa), decode, src, n, dst); }
void EXPORTED(accumulate)(int isa, const uint16_t *src, long n, float *dst) {
    DISPATCH(usable(isa), accumulate, src, n, dst);
}
void EXPORTED(accumulate_divide)(int isa, const uint16_t *src, long n, float divisor, float *dst) {
    DISPATCH(usable(isa), accumulate_divide, src, n, divisor, dst);
}
void EXPORTED(quantize)(int isa, float *dst, long n) { DISPATCH(usable(isa), quantize, dst, n); }
void EXPORTED(round_with_residual)(int isa, float *g, float *residual, long n) {
    DISPATCH(usable(isa), round_with_residual, g, residual, n);
}
