#!/usr/bin/env bash
# Data-parallel scaling of W2 and W1 at 1, 2 and 4 workers, with the compute-only ceiling and the α–β prediction
# for up to 1024 workers (3 rounds, median run per count: the machine is shared). Writes runs/bench/scaling-{W1,W2}.{jsonl,csv,png}.
#   scripts/bench-scaling.sh [extra `cohort bench scaling` options, e.g. --steps 100 --bandwidth 12.5 --latency-us 5]
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release >/dev/null
out=runs/bench
mkdir -p "$out"
for w in W2 W1; do
  .build/release/cohort bench scaling cluster.yaml --workload "$w" --workers 1,2,4 --repeats 3 --json \
    --csv "$out/scaling-$w.csv" --plot-dir "$out" "$@" | tee "$out/scaling-$w.jsonl"
done
