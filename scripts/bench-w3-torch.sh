#!/usr/bin/env bash
# W3 training throughput, Cohort beside PyTorch CPU (oneDNN), 1 thread each, alternated over ROUNDS rounds (the
# order flips each round so a shared machine's load hits both sides alike); the medians and the Cohort/PyTorch ratio.
# Each round (one Cohort run and one PyTorch run, same steps and warm-up) holds /tmp/cohort-bench.lock.
#   scripts/bench-w3-torch.sh [ROUNDS=5] [STEPS=100]
#   INSTALL=1 scripts/bench-w3-torch.sh   first pip-installs torch (scripts/torch-compare.py --install)
# Cohort's kernel path: the best this CPU runs, or COHORT_GEMM_KERNEL (avx512|avx2|portable) when set.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-5} steps=${2:-100} warmup=${WARMUP:-10}
cd "$ROOT"
[[ -n ${INSTALL:-} ]] && python3 scripts/torch-compare.py --install --runs 1 --steps 1 --warmup 0 >/dev/null
swift build -c release --product cohort 2>&1 | grep -E 'error' || true
test -x .build/release/cohort || { echo "bench-w3-torch.sh: build failed" >&2; exit 1; }
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), kernel path: ${COHORT_GEMM_KERNEL:-best (default)}"
cohort() {
  .build/release/cohort bench train --workload W3 --threads 1 --runs 1 --steps "$steps" --warmup "$warmup" --json
}
torch() {
  python3 scripts/torch-compare.py --threads 1 --runs 1 --steps "$steps" --warmup "$warmup" --json
}
for ((r = 1; r <= rounds; r++)); do
  sides=(cohort torch); ((r % 2 == 0)) && sides=(torch cohort)
  # shellcheck disable=SC2016
  flock /tmp/cohort-bench.lock bash -c "$(declare -f cohort torch); steps=$steps warmup=$warmup
    for s in ${sides[*]}; do echo \"\$s \$(\$s)\"; done" | tee -a "$out/all.txt"
done
python3 - "$out/all.txt" "$rounds" "$steps" <<'PY'
import json, statistics, sys
rows = {"cohort": [], "torch": []}
for line in open(sys.argv[1]):
    side, _, record = line.partition(" ")
    rows[side].append(json.loads(record))
med = {s: statistics.median(r["samples_per_s"] for r in rows[s]) for s in rows}
share = {s: statistics.median(r["cpu_share"] for r in rows[s]) for s in rows}
ratios = [c["samples_per_s"] / t["samples_per_s"] for c, t in zip(rows["cohort"], rows["torch"])]
t = rows["torch"][0]
print(f"--- W3, batch 128, 1 thread, {sys.argv[3]} timed steps, {sys.argv[2]} rounds "
      f"(torch {t['torch']}, {t['cpu_capability']}, mkldnn {t['mkldnn']}) ---")
for s in ("cohort", "torch"):
    print(f"{s:7s} median {med[s]:8.1f} samples/s  (CPU share {share[s]:.2f}; runs {[r['samples_per_s'] for r in rows[s]]})")
print(f"ratio cohort/torch: {med['cohort'] / med['torch']:.3f} (median of per-round ratios {statistics.median(ratios):.3f}; "
      f"{[round(x, 3) for x in ratios]})")
PY
