// The int8 GEMM's packing loops and micro-kernels (issue 16). In C because Swift's SIMD types cannot reach
// `vpdpbusd` (AVX-512 VNNI) or `vpmaddwd`: each ISA kernel is one function with a `target` attribute, so this target
// builds with the baseline flags and `Tensors` calls a kernel only where the CPU has its instructions.
//
// Packed formats (one micro-panel after another, each zero-padded to whole tiles and whole k groups):
//   bytes (VNNI): A as u8 = s8 + 128 (the offset trick: vpdpbusd multiplies u8 by s8), laid out
//     [group q][row r][4], B as s8 laid out [group q][column c][4]: one k group of a column is one 32-bit lane.
//     The offset adds 128·Σ_p b[p][j] to column j, which the store subtracts (`correction`).
//   words (AVX2, portable): A and B widened to s16, k in pairs, [pair q][row r][2] and [pair q][column c][2]. `vpmaddwd`
//     on s16 is exact; `vpmaddubsw` on u8 × s8 saturates its s16 pair sums (2·255·127 > 32767), and exactness
//     against the integer reference is the contract here.
#pragma once
#include <stdint.h>

#define COHORT_I8_VNNI_MR 8
#define COHORT_I8_VNNI_NR 32
#define COHORT_I8_AVX2_MR 4
#define COHORT_I8_AVX2_NR 16
#define COHORT_I8_PORTABLE_MR 4
#define COHORT_I8_PORTABLE_NR 16

/// What the store writes for each accumulator acc[i][j] (column j counted from the tile's first column):
///   v = acc - correction[j] (exact int32; kind 0 stores v)
///   f = (float)v * scale[j] (+ bias[j]) (then max(f, 0) with relu) (kind 1 stores f)
///   q = round-half-even(clamp(f * inverse_output_scale, -128, 127)) (kind 2 stores q as int8)
/// The multiply and add are separate roundings (this target builds with -ffp-contract=off), so every path and the
/// Swift reference agree bit for bit.
typedef struct {
    int32_t kind;
    int32_t relu;
    void *c;
    long ldc;
    const int32_t *correction;
    const float *scale;
    const float *bias;
    float inverse_output_scale;
} cohort_i8_store;

void cohort_i8_pack_a_bytes(const int8_t *a, long lda, long rows, long k, long mr, uint8_t *out);
void cohort_i8_pack_a_words(const int8_t *a, long lda, long rows, long k, long mr, int16_t *out);
void cohort_i8_pack_b_bytes(const int8_t *b, long ldb, long k, long cols, long nr, int8_t *out, int32_t *correction);
void cohort_i8_pack_b_words(const int8_t *b, long ldb, long k, long cols, long nr, int16_t *out);

/// Stores rows × cols of an int32 tile (row stride ldacc) through `s`; the scalar path every kernel uses at edges.
void cohort_i8_store_scalar(const int32_t *acc, long ldacc, long rows, long cols, const cohort_i8_store *s);

/// One MR × NR tile over `groups` packed k groups (4 deep for bytes, 2 for words); stores rows × cols of it.
void cohort_i8_tile_vnni(long groups, const uint8_t *a, const int8_t *b, long rows, long cols, const cohort_i8_store *s);
void cohort_i8_tile_avx2(long groups, const int16_t *a, const int16_t *b, long rows, long cols, const cohort_i8_store *s);
void cohort_i8_tile_portable(long groups, const int16_t *a, const int16_t *b, long rows, long cols, const cohort_i8_store *s);

/// out[i] = round-half-even(clamp(x[i] · inverse, −127, 127)); NaN gives −127. One per ISA.
void cohort_i8_quantize_portable(const float *x, long n, float inverse, int8_t *out);
void cohort_i8_quantize_avx2(const float *x, long n, float inverse, int8_t *out);
void cohort_i8_quantize_avx512(const float *x, long n, float inverse, int8_t *out);
