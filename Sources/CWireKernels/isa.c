#include "cohort_wire.h"

int cohort_wire_isa_supported(int isa) {
    switch (isa) {
    case COHORT_WIRE_PORTABLE: return 1;
#if defined(__x86_64__)
    case COHORT_WIRE_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
    case COHORT_WIRE_AVX512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl");
#endif
    default: return 0;
    }
}
