#!/usr/bin/env bash
# Side-by-side performance of two cohort binaries (e.g. the commit before a refactor and after it), alternating
# the two sides over ROUNDS rounds (the order flips each round), medians reported with new/old ratios.
# Usage: scripts/bench-compare.sh OLD_BINARY NEW_BINARY [ROUNDS]   (nothing else should run meanwhile)
set -euo pipefail
old=$1 new=$2 rounds=${3:-3}
out=$(mktemp -d)
benches=(
  "train-W1|bench train --workload W1 --json|samples_per_s"
  "train-W2|bench train --workload W2 --json|samples_per_s"
  "scaling-W2-2w|bench scaling --workload W2 --workers 1,2 --json --plot-dir $out/plots|samples_per_s@workers=2"
  "allreduce-shm-16MiB|bench allreduce --ranks 2 --transport shm --sizes 4194304,16777216 --json|busbw_gbps@bytes=16777216"
  "allreduce-tcp-16MiB|bench allreduce --ranks 2 --transport tcp --sizes 4194304,16777216 --json|busbw_gbps@bytes=16777216"
  "gemm-geomean|bench gemm --json|gflops@geomean"
)
figure() { # FIELD[@KEY=VALUE|@geomean] < json lines
  python3 -c '
import sys, json, math
spec = sys.argv[1]; field, _, sel = spec.partition("@")
rows = [json.loads(l) for l in sys.stdin if l.startswith("{")]
rows = [r for r in rows if field in r and r.get("kind", "measured") == "measured"]
if sel == "geomean":
    print(math.exp(sum(math.log(r[field]) for r in rows) / len(rows)))
elif sel:
    k, v = sel.split("="); print([r[field] for r in rows if str(r.get(k)) == v][0])
else:
    print(rows[-1][field])' "$1"
}
for ((r = 1; r <= rounds; r++)); do
  for b in "${benches[@]}"; do
    IFS='|' read -r name args field <<<"$b"
    sides=(old new); ((r % 2 == 0)) && sides=(new old)
    for side in "${sides[@]}"; do
      bin=$old; [[ $side == new ]] && bin=$new
      # shellcheck disable=SC2086
      v=$("$bin" $args 2>/dev/null | figure "$field")
      echo "$name $side $v" | tee -a "$out/all.txt"
    done
  done
done
echo "--- medians over $rounds rounds (new/old) ---"
python3 - "$out/all.txt" <<'PY'
import sys, statistics, collections
d = collections.defaultdict(list)
for line in open(sys.argv[1]):
    n, s, v = line.split(); d[(n, s)].append(float(v))
for n in dict.fromkeys(k[0] for k in d):
    o, w = statistics.median(d[(n, "old")]), statistics.median(d[(n, "new")])
    print(f"{n:22s} old {o:12.3f}  new {w:12.3f}  ratio {w / o:.3f}   (old {d[(n,'old')]}, new {d[(n,'new')]})")
PY
