// The bf16 and fp16 wires' element-wise kernels (issue 12): the encoding a ring sends, the decoding each hop adds or copies,
// and the rounding with error feedback a compressing reducer keeps. In C because Swift's SIMD code in `Collectives`
// is built for baseline x86-64 (SSE2), where one 16-lane bf16 rounding is some seventy instructions; here each ISA
// variant is one function with a `target` attribute, chosen at run time.
//
// Every variant computes exactly what the portable one does, so replicas on CPUs with different instruction sets
// stay identical: bf16 rounds to nearest even in integer arithmetic (a NaN stays a quiet NaN), with no hardware
// bf16 conversion (vcvtneps2bf16 flushes denormals); fp16 uses IEEE rounding, in F16C or in software.
#pragma once
#include <stdint.h>

enum {
    COHORT_WIRE_PORTABLE = 0,
    COHORT_WIRE_AVX2 = 1,
    COHORT_WIRE_AVX512 = 2,
};

/// Whether this CPU runs the variant `isa`.
int cohort_wire_isa_supported(int isa);

/// out[i] = bf16(src[i])
void cohort_bf16_encode(int isa, const float *src, long n, uint16_t *out);
/// dst[i] = float(src[i])
void cohort_bf16_decode(int isa, const uint16_t *src, long n, float *dst);
/// dst[i] += float(src[i])
void cohort_bf16_accumulate(int isa, const uint16_t *src, long n, float *dst);
/// dst[i] = (dst[i] + float(src[i])) / divisor
void cohort_bf16_accumulate_divide(int isa, const uint16_t *src, long n, float divisor, float *dst);
/// dst[i] = float(bf16(dst[i])): what the wire carries, in place.
void cohort_bf16_quantize(int isa, float *dst, long n);
/// Error feedback around the rounding, in one pass: x = g[i] + residual[i]; g[i] = float(bf16(x)); residual[i] = x − g[i],
/// or 0 where that is not finite (x NaN or infinite: the trainer skips that step, and the residual must not carry it on).
void cohort_bf16_round_with_residual(int isa, float *g, float *residual, long n);

/// The same six for fp16 (IEEE binary16, round to nearest even; the AVX2 variant uses F16C). Every variant gives
/// the portable one's bits for every value but NaN, which stays a NaN.
void cohort_f16_encode(int isa, const float *src, long n, uint16_t *out);
void cohort_f16_decode(int isa, const uint16_t *src, long n, float *dst);
void cohort_f16_accumulate(int isa, const uint16_t *src, long n, float *dst);
void cohort_f16_accumulate_divide(int isa, const uint16_t *src, long n, float divisor, float *dst);
void cohort_f16_quantize(int isa, float *dst, long n);
void cohort_f16_round_with_residual(int isa, float *g, float *residual, long n);
