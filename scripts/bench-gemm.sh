#!/usr/bin/env bash
# Cohort's sgemm beside numpy's OpenBLAS (1 thread, AVX-512 path), in one sitting, and the ratio per shape.
#   scripts/bench-gemm.sh [extra `cohort bench gemm` options, e.g. --threads 2 --kernel avx2]
# The anchors live at ../shared/anchors relative to the repository root (resolved from this script's folder).
# OpenBLAS runs with the same thread count as Cohort (--threads N, default 1).
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
.build/release/cohort bench gemm --json "$@" | tee "$tmp/cohort.jsonl"
bash "$ANCHORS/run.sh" gemm "$threads" | tee "$tmp/openblas.txt"
python3 - "$tmp/cohort.jsonl" "$tmp/openblas.txt" <<'PY'
import json, re, sys
cohort = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
blas = {}
for line in open(sys.argv[2]):
    m = re.match(r"gemm label=(\S+) .*GFLOPs median=([\d.]+)", line)
    if m: blas[m.group(1)] = float(m.group(2))
print(f"\n{'shape':38} {'op':>3} {'thr':>3} {'Cohort':>8} {'OpenBLAS':>9} {'ratio':>6} {'of peak':>8}")
for r in cohort:
    ob = blas.get(r["label"])
    op = ("T" if r["trans_a"] else "N") + ("T" if r["trans_b"] else "N")
    ratio = f"{r['gflops'] / ob:6.2f}" if ob else "     -"
    obs = f"{ob:9.1f}" if ob else "        -"
    print(f"{r['label']:38} {op:>3} {r['threads']:3d} {r['gflops']:8.1f} {obs} {ratio} {100 * r['gflops'] / r['peak_gflops']:7.1f}%")
PY
