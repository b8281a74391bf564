// libFuzzer's driver entry (compiler-rt's FuzzerInterface.h). Defined only when the binary is linked with
// -sanitize=fuzzer; cohort-fuzz calls it only when built with -D COHORT_FUZZING (scripts/fuzz.sh).
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
