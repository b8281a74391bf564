#!/usr/bin/env bash
# Fuzzing (issue 13): the decoders of outside input under libFuzzer. Targets: wire-header, control-message, config,
# idx, safetensors (`cohort-fuzz list`); seed corpus in Tests/FuzzCorpus/<target>/.
#
#   scripts/fuzz.sh [SECONDS] [TARGET…]   builds cohort-fuzz with -sanitize=fuzzer,address into .build-fuzz and
#                                         fuzzes each target (default all) for SECONDS (default 60) on a copy of
#                                         its seed corpus; prints execs/s and corpus size, fails on a crash and
#                                         leaves the crashing input in .build-fuzz/crashes/<target>/
#   scripts/fuzz.sh --replay              replays the seed corpus through a plain release build (scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
quiet() { grep -vE '^\[[0-9]+/[0-9]+\] (Compiling|Emitting|Wrapping|Write|Linking)|^(Building|Build complete)' || true; }

if [[ ${1:-} == --replay ]]; then
    set +e
    swift build -c release --product cohort-fuzz 2>&1 | quiet
    build=${PIPESTATUS[0]}
    set -e
    if [[ $build -ne 0 ]]; then echo "fuzz.sh: build failed (exit $build)" >&2; exit "$build"; fi
    exec "$(swift build -c release --show-bin-path)/cohort-fuzz" replay Tests/FuzzCorpus
fi

seconds=${1:-60}
[[ $# -gt 0 ]] && shift
if ! [[ $seconds =~ ^[0-9]+$ ]] || [[ $seconds -lt 1 ]]; then echo "usage: fuzz.sh [SECONDS] [TARGET…] | --replay" >&2; exit 2; fi
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(wire-header control-message config idx safetensors)

# The fuzzer supplies the driver (LLVMFuzzerRunDriver); gold fails to link it, lld does. The C of Yams' libyaml
# gets coverage too. Leak detection is off: libFuzzer exits from inside its driver, and LeakSanitizer then reports
# what the Swift frames below it still held (and the Swift runtime's caches). Without the address sanitizer's runtime the build falls back to -sanitize=fuzzer alone.
scratch=.build-fuzz
build() {
    swift build -c release --scratch-path "$scratch" --product cohort-fuzz -Xswiftc -use-ld=lld \
        -Xswiftc -D -Xswiftc COHORT_FUZZING -Xswiftc "-sanitize=$1" -Xcc "-fsanitize=fuzzer-no-link${1#fuzzer}" 2>&1 | quiet
    return "${PIPESTATUS[0]}"
}
if build fuzzer,address; then
    echo "fuzz.sh: built with -sanitize=fuzzer,address"
elif build fuzzer; then
    echo "fuzz.sh: built with -sanitize=fuzzer (the address sanitizer did not build)"
else
    echo "fuzz.sh: the fuzz build failed" >&2
    exit 1
fi
bin="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/cohort-fuzz"

status=0
for target in "${targets[@]}"; do
    [[ -d Tests/FuzzCorpus/$target ]] || { echo "fuzz.sh: no target $target (no Tests/FuzzCorpus/$target)" >&2; exit 2; }
    corpus=$scratch/corpus/$target crashes=$scratch/crashes/$target log=$scratch/logs/$target.log
    rm -rf "$corpus"
    mkdir -p "$corpus" "$crashes" "$(dirname "$log")"
    cp Tests/FuzzCorpus/"$target"/* "$corpus"/
    seeds=$(ls "$corpus" | wc -l)
    set +e
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} "$bin" "$target" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 -detect_leaks=0 \
        -artifact_prefix="$crashes/" >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | head -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | head -1)
    size=$(ls "$corpus" | wc -l)
    bytes=$(du -sk "$corpus" | cut -f1)
    echo "$target: ${seconds}s, ${execs:-?} execs, ${rate:-?} execs/s, corpus $seeds -> $size files (${bytes} KiB), exit $rc"
    if [[ $rc -ne 0 ]]; then
        status=1
        echo "fuzz.sh: $target crashed; input(s): $(ls -d "$crashes"/* 2>/dev/null | tr '\n' ' ')" >&2
        grep -E 'ERROR|Fatal error|SUMMARY|==ABORTING' "$log" | head -5 >&2 || true
        echo "fuzz.sh: full log in $log" >&2
    fi
done
exit "$status"
