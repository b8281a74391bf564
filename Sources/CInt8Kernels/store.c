// The scalar store (requantization) shared by every kernel's edge tiles and the portable kernel.
#include <math.h>
#include "cohort_int8.h"

static float requantize_float(int32_t v, long j, const cohort_i8_store *s) {
    float f = (float)v * s->scale[j];
    if (s->bias) f = f + s->bias[j];
    if (s->relu) f = f > 0.0f ? f : 0.0f;
    return f;
}

static int8_t requantize_int8(float f, float inverse) {
    float x = f * inverse;
    x = x < -128.0f ? -128.0f : (x > 127.0f ? 127.0f : x);
    return (int8_t)nearbyintf(x);
}

void cohort_i8_store_scalar(const int32_t *acc, long ldacc, long rows, long cols, const cohort_i8_store *s) {
    for (long i = 0; i < rows; i++) {
        for (long j = 0; j < cols; j++) {
            int32_t v = acc[i * ldacc + j] - (s->correction ? s->correction[j] : 0);
            if (s->kind == 0) {
                ((int32_t *)s->c)[i * s->ldc + j] = v;
            } else if (s->kind == 1) {
                ((float *)s->c)[i * s->ldc + j] = requantize_float(v, j, s);
            } else {
                ((int8_t *)s->c)[i * s->ldc + j] = requantize_int8(requantize_float(v, j, s), s->inverse_output_scale);
            }
        }
    }
}

/// The portable kernel: the AVX2 kernel's s16 pairs in plain C. The pair sum a0·b0 + a1·b1 of sign-extended
/// int16s is the idiom compilers turn into `pmaddwd` on baseline x86-64 (SSE2) and `smlal` on ARM; the byte
/// format's sums of four u8 × s8 products measured 4× slower here (no such idiom).
void cohort_i8_tile_portable(long groups, const int16_t *a, const int16_t *b, long rows, long cols, const cohort_i8_store *s) {
    enum { MR = COHORT_I8_PORTABLE_MR, NR = COHORT_I8_PORTABLE_NR };
    int32_t acc[MR][NR];
    for (long r = 0; r < MR; r++)
        for (long c = 0; c < NR; c++) acc[r][c] = 0;
    for (long q = 0; q < groups; q++) {
        for (long r = 0; r < MR; r++) {
            int32_t a0 = a[2 * r], a1 = a[2 * r + 1];
            for (long c = 0; c < NR; c++) acc[r][c] += a0 * (int32_t)b[2 * c] + a1 * (int32_t)b[2 * c + 1];
        }
        a += MR * 2;
        b += NR * 2;
    }
    cohort_i8_store_scalar(&acc[0][0], NR, rows, cols, s);
}
