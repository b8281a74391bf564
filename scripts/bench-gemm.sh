#!/usr/bin/env bash
# Cohort's sgemm beside numpy's OpenBLAS (1 thread), in one sitting, and the ratio per shape.
#   scripts/bench-gemm.sh [extra `cohort bench gemm` options, e.g. --threads 2 --kernel avx2]
#   ROUNDS=3 scripts/bench-gemm.sh   repeat ROUNDS times; per shape, the median of the per-round figures and ratios
#   CORETYPE=Haswell ROUNDS=3 scripts/bench-gemm.sh --kernel avx2
#                                    the AVX2 paths side by side on any x86 machine (an AVX-512 one too): Cohort's
#                                    AVX2 kernel beside OpenBLAS forced to its Haswell (AVX2) kernel; SkylakeX for
#                                    the AVX-512 pair. Run it under `flock /tmp/cohort-bench.lock` on a shared machine.
# Each ratio comes from pairs timed back to back on the same operands (`cohort bench gemm --beside-openblas numpy`),
# so a clock that drifts between seconds (seen: ±10% on a 2-core VM) hits both sides of a pair alike. Timing all of
# Cohort's shapes and then all of OpenBLAS's (the anchor's own script) put minutes between the two sides of a ratio:
# on a Zen 4 VM that gave 0.84 for a shape whose pairs gave 0.98. ANCHOR=1 gives that older method (the anchor's
# script, ../shared/anchors/run.sh gemm, alternated with Cohort's run), for comparison with figures made by it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ANCHORS=$(cd "$(dirname "$0")/../../shared/anchors" 2>/dev/null && pwd) || { echo "bench-gemm.sh: no anchors at $(dirname "$0")/../../shared/anchors" >&2; exit 1; }
threads=1
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --threads) threads=${args[$((i + 1))]} ;;
    --threads=*) threads=${args[$i]#--threads=} ;;
  esac
done
cd "$ROOT"
swift build -c release --product cohort 2>&1 | grep -E 'error|warning: unre' || true
test -x .build/release/cohort || { echo "bench-gemm.sh: build failed" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
rounds=${ROUNDS:-1}
for ((r = 1; r <= rounds; r++)); do
  if [[ -n "${ANCHOR:-}" ]]; then
    .build/release/cohort bench gemm --json "$@" | tee "$tmp/cohort.$r.jsonl"
    bash "$ANCHORS/run.sh" gemm "$threads" ${CORETYPE:+"$CORETYPE"} | tee "$tmp/openblas.$r.txt"
  else
    env -u OPENBLAS_L2_SIZE ${CORETYPE:+OPENBLAS_CORETYPE="$CORETYPE"} \
      .build/release/cohort bench gemm --json --beside-openblas numpy "$@" | tee "$tmp/cohort.$r.jsonl"
    : > "$tmp/openblas.$r.txt"
  fi
done
python3 - "$tmp" "$rounds" <<'PY'
import json, re, statistics, sys
folder, rounds = sys.argv[1], int(sys.argv[2])
rows = {}  # label -> list of (cohort record, openblas gflops or None), one per round
for r in range(1, rounds + 1):
    blas = {}
    for line in open(f"{folder}/openblas.{r}.txt"):
        m = re.match(r"gemm label=(\S+) .*GFLOPs median=([\d.]+)", line)
        if m: blas[m.group(1)] = float(m.group(2))
    for line in open(f"{folder}/cohort.{r}.jsonl"):
        if line.startswith("{"):
            rec = json.loads(line)
            rows.setdefault(rec["label"], []).append((rec, blas.get(rec["label"])))
med = statistics.median
print(f"\n{'shape':38} {'op':>3} {'thr':>3} {'Cohort':>8} {'OpenBLAS':>9} {'ratio':>6} {'of peak':>8}   (medians of {rounds} round(s))")
for label, runs in rows.items():
    rec = runs[0][0]
    op = ("T" if rec["trans_a"] else "N") + ("T" if rec["trans_b"] else "N")
    cohort = med([x["gflops"] for x, _ in runs])
    frac = med([x["gflops"] / x["peak_gflops"] for x, _ in runs if x["peak_gflops"] > 0] or [0])
    # Paired runs carry OpenBLAS's rate and the median of the pairs' ratios in each record.
    paired = [(x["gflops"], ob or x.get("openblas_gflops"), x.get("ratio")) for x, ob in runs]
    paired = [(g, ob, r if r else g / ob) for g, ob, r in paired if ob]
    obs = f"{med([ob for _, ob, _ in paired]):9.1f}" if paired else "        -"
    ratio = f"{med([r for _, _, r in paired]):6.3f}" if paired else "     -"
    print(f"{label:38} {op:>3} {rec['threads']:3d} {cohort:8.1f} {obs} {ratio} {100 * frac:7.1f}%")
PY
