#!/bin/bash
# Cohort's FMA peak probe beside ../shared/anchors/run.sh peak, 3 alternating rounds (run under flock /tmp/cohort-bench.lock).
cd "$(dirname "$0")/.."
for r in 1 2 3; do
  echo "round $r anchor:"; BUILD=${BUILD:-$(mktemp -d)} ../shared/anchors/run.sh peak 2>&1 | grep "threads=1"
  for k in avx2 $(grep -qw avx512f /proc/cpuinfo && echo avx512); do
    echo -n "round $r cohort $k: "; .build/release/cohort bench gemm --kernel $k --shape square256 --reps 5 --json | grep -o '"peak_gflops":[0-9.]*'
  done
done
