#!/usr/bin/env bash
# ASHA against random search on W1 with the same budget (issue 15), under the benchmark lock:
#   1. one full 10-epoch W1 training (1 thread): the time unit;
#   2. cohort tune scripts/tune-w1.yaml (ASHA, 32 trials, 2 slots);
#   3. random search with as many 10-epoch trials as ASHA's epochs allow (floor(epochs / 10)), same space and seed
#      (or RANDOM_SEED).
# SPACE (default scripts/tune-w1.yaml) names the cluster file with the tune: section.
# Prints each done line and the ratios. OUT (default runs/tune-compare) holds the study files, CSVs and PNGs.
set -euo pipefail
cd "$(dirname "$0")/.."
COHORT=${COHORT:-.build/release/cohort}
OUT=${OUT:-runs/tune-compare}
SPACE=${SPACE:-scripts/tune-w1.yaml}
rm -rf "$OUT" && mkdir -p "$OUT"
run() { flock /tmp/cohort-bench.lock "$@"; }
t0=$(date +%s.%N)
run "$COHORT" train --config "$SPACE" --json --quiet | tail -1 | tee "$OUT/single.json"
single=$(echo "$(date +%s.%N) - $t0" | bc)
echo "single 10-epoch W1 training: ${single} s"
run "$COHORT" tune "$SPACE" --study "$OUT/asha/study.jsonl" --json 2>"$OUT/asha.log" | tail -1 | tee "$OUT/asha.json"
# Epochs ASHA really trained: a promoted trial continues from its previous rung, so each trial costs its
# largest budget.
epochs=$(python3 -c "
import json
top = {}
for l in open('$OUT/asha/study.jsonl'):
    r = json.loads(l)
    if r.get('event') == 'result': top[r['trial']] = max(top.get(r['trial'], 0), r['budget'])
print(sum(top.values()))")
random_trials=$((epochs / 10))
echo "ASHA trained ${epochs} epochs in all; random search gets ${random_trials} trials of 10 epochs"
# RANDOM_SEED: draw random search's trials from another stream than ASHA's (by default both start with the same
# trials, so a tie on the best one says little).
sed -e 's/scheduler: asha/scheduler: random/' -e '/asha_type:/d' -e "s/trials: 32/trials: ${random_trials}/" \
  ${RANDOM_SEED:+-e "s/^  seed: .*/  seed: ${RANDOM_SEED}/"} "$SPACE" >"$OUT/random.yaml"
run "$COHORT" tune "$OUT/random.yaml" --study "$OUT/random/study.jsonl" --json 2>"$OUT/random.log" | tail -1 | tee "$OUT/random.json"
python3 - "$OUT" "$single" <<'PY'
import json, sys
out, single = sys.argv[1], float(sys.argv[2])
def first_reaching(study, target=0.89):
    recs = [json.loads(l) for l in open(study)]
    t0 = recs[0].get("at")
    for r in recs:
        if r.get("event") == "result" and (r.get("metric") or 0) >= target and t0 and r.get("at"):
            return r["at"] - t0
    return None
for name in ("asha", "random"):
    d = json.loads(open(f"{out}/{name}.json").read())
    t = first_reaching(f"{out}/{name}/study.jsonl")
    reach = f"first >= 0.89 after {t:.1f} s = {t/single:.2f}x one training" if t is not None else "never >= 0.89"
    print(f"{name}: best test accuracy {d['best_test_accuracy']:.4f}; study {d['seconds']:.1f} s = {d['seconds']/single:.2f}x one training; {reach}")
PY
