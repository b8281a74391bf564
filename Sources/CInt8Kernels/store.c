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

/// The portable kernel: the same packed bytes as VNNI, plain int32 arithmetic the compiler may vectorise for
/// the baseline CPU (SSE2).
void cohort_i8_tile_portable(long groups, const uint8_t *a, const int8_t *b, long rows, long cols, const cohort_i8_store *s) {
    enum { MR = COHORT_I8_PORTABLE_MR, NR = COHORT_I8_PORTABLE_NR };
    int32_t acc[MR * NR];
    for (long t = 0; t < MR * NR; t++) acc[t] = 0;
    for (long q = 0; q < groups; q++) {
        for (long r = 0; r < MR; r++) {
            for (long c = 0; c < NR; c++) {
                int32_t sum = 0;
                for (long g = 0; g < 4; g++) sum += (int32_t)a[r * 4 + g] * (int32_t)b[c * 4 + g];
                acc[r * NR + c] += sum;
            }
        }
        a += MR * 4;
        b += NR * 4;
    }
    cohort_i8_store_scalar(acc, NR, rows, cols, s);
}
