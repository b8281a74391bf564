#!/usr/bin/env bash
# What serving the status endpoint (output.http) costs: `cohort bench scaling` W1 on 2 workers with the endpoint
# off and on, alternated over ROUNDS rounds; on the "on" side a client polls /api/status twice a second and
# /metrics once a second (the live page and a fast Prometheus). Prints each round and the medians side by side.
#   ROUNDS=5 [PIN=1] scripts/bench-status-endpoint.sh [CLUSTER.yaml]
# PIN=1 pins each worker process (all its threads) to CPU (--local-index mod the CPU count) as it starts, so that
# the two workers never share a core by the scheduler's choice; the coordinator and the poller float.
# Runs under flock /tmp/cohort-bench.lock so no two benchmarks overlap. Port 18080 on 127.0.0.1 must be free.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-5}
base=${1:-cluster.yaml}
work=$(mktemp -d)
trap 'rm -rf "$work"; for p in ${poller:-} ${pinner:-}; do kill "$p" 2>/dev/null || true; done' EXIT
python3 -c "import secrets; print(secrets.token_hex(24))" > "$work/token"
chmod 600 "$work/token"
# The same file twice: a fixed token (the poller's), and output.http on the "on" side only.
sed -e "s|^    curve: false.*|    curve: false\n    token_file: $work/token|" "$base" > "$work/off.yaml"
sed -e "s|^output:|output:\n  http: {address: 127.0.0.1, port: 18080}|" "$work/off.yaml" > "$work/on.yaml"
grep -q token_file "$work/off.yaml" && grep -q "port: 18080" "$work/on.yaml" || { echo "cannot derive configs from $base" >&2; exit 2; }
token=$(cat "$work/token")
poll() {
  local i=0
  while :; do
    curl -s -m 1 -o /dev/null -H "Authorization: Bearer $token" http://127.0.0.1:18080/api/status || true
    if (( i % 2 == 0 )); then curl -s -m 1 -o /dev/null -H "Authorization: Bearer $token" http://127.0.0.1:18080/metrics || true; fi
    i=$((i + 1)); sleep 0.5
  done
}
pin_workers() {  # pins every new `cohort worker` to the CPU of its --local-index, until killed
  local cpus seen=" " pid idx
  cpus=$(nproc)
  while :; do
    for pid in $(pgrep -f -- 'cohort worker --coordinator' || true); do
      [[ $seen == *" $pid "* ]] && continue
      idx=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | sed -n 's/.*--local-index \([0-9]*\).*/\1/p')
      [ -n "$idx" ] || continue
      taskset -a -p -c $((idx % cpus)) "$pid" >/dev/null 2>&1 && seen+="$pid "
    done
    sleep 0.2
  done
}
measure() {  # $1: off|on → steady samples/s of the 2-worker run
  .build/release/cohort bench scaling "$work/$1.yaml" --workload W1 --workers 2 --steps 400 --bandwidth 10 \
    --latency-us 5 --json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    if line.startswith("{"):
        r = json.loads(line)
        if r.get("kind") == "measured" and r.get("workers") == 2: print(r["samples_per_s"])'
}
exec 9>/tmp/cohort-bench.lock
flock 9
if [ "${PIN:-0}" = 1 ]; then pin_workers & pinner=$!; fi
off=(); on=()
for r in $(seq 1 "$rounds"); do
  a=$(measure off)
  poll & poller=$!
  b=$(measure on)
  kill "$poller" 2>/dev/null || true; wait "$poller" 2>/dev/null || true; poller=
  off+=("$a"); on+=("$b")
  echo "round $r: off $a samples/s, on $b samples/s"
done
python3 - "${off[*]}" "${on[*]}" <<'PY'
import statistics, sys
off = [float(x) for x in sys.argv[1].split()]
on = [float(x) for x in sys.argv[2].split()]
mo, mn = statistics.median(off), statistics.median(on)
print(f"median: off {mo:.0f} samples/s, on {mn:.0f} samples/s, on/off {mn / mo:.3f} ({(mn / mo - 1) * 100:+.1f}%)")
PY
