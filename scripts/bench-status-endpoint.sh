#!/usr/bin/env bash
# What serving the status endpoint (output.http) costs: `cohort bench scaling` W1 on 2 workers with the endpoint
# off and on, alternated over ROUNDS rounds; on the "on" side a client polls /api/status twice a second and
# /metrics once a second (the live page and a fast Prometheus). Prints each round and the medians side by side.
#   ROUNDS=5 [PIN=1] scripts/bench-status-endpoint.sh [CLUSTER.yaml]
# PIN=1 pins each worker process (all its threads) to CPU (--local-index mod the CPU count) as it starts, so that
# the two workers never share a core by the scheduler's choice; the coordinator and the poller float.
# Also prints the bench process's own CPU time (the coordinator, and the endpoint's threads when on) as a share of
# all cores: what serving costs the workers at most, a figure the 2-worker run's bimodal samples/s cannot blur.
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
poll() {  # one client process on a kept-alive connection (a browser or Prometheus costs the workers' host nothing;
  # spawning curl three times a second would charge its own start-up to the endpoint)
  exec python3 - "$token" <<'PY'
import http.client, sys, time
headers = {"Authorization": f"Bearer {sys.argv[1]}"}
conn, i = None, 0
while True:
    for path in (["/api/status", "/metrics"] if i % 2 == 0 else ["/api/status"]):
        try:
            conn = conn or http.client.HTTPConnection("127.0.0.1", 18080, timeout=1)
            conn.request("GET", path, headers=headers)
            conn.getresponse().read()
        except (OSError, http.client.HTTPException):
            conn = None
    i += 1
    time.sleep(0.5)
PY
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
measure() {  # $1: off|on → "samples/s coordinator-cpu-s wall-s" of the bench: the steady 2-worker samples/s, and
  # the CPU seconds of the bench process itself (coordinator and endpoint threads, not the worker processes, read
  # from /proc every 50 ms until it exits) over its wall time
  python3 - "$work/$1.yaml" <<'PY'
import json, os, subprocess, sys, time
p = subprocess.Popen([".build/release/cohort", "bench", "scaling", sys.argv[1], "--workload", "W1", "--workers", "2",
                      "--steps", "400", "--bandwidth", "10", "--latency-us", "5", "--json"],
                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
tick, cpu, t0 = os.sysconf("SC_CLK_TCK"), 0.0, time.monotonic()
import threading
def sample():
    global cpu
    while p.poll() is None:
        try:
            fields = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
        time.sleep(0.05)
threading.Thread(target=sample, daemon=True).start()
out = p.stdout.read()
p.wait()
wall = time.monotonic() - t0
rate = next((json.loads(l)["samples_per_s"] for l in out.splitlines() if l.startswith("{")
             and json.loads(l).get("kind") == "measured" and json.loads(l).get("workers") == 2), "nan")
print(rate, f"{cpu:.3f}", f"{wall:.3f}")
PY
}
exec 9>/tmp/cohort-bench.lock
flock 9
if [ "${PIN:-0}" = 1 ]; then pin_workers & pinner=$!; fi
off=(); on=(); offcpu=(); oncpu=()
for r in $(seq 1 "$rounds"); do
  read -r a ac aw < <(measure off)
  poll & poller=$!
  read -r b bc bw < <(measure on)
  kill "$poller" 2>/dev/null || true; wait "$poller" 2>/dev/null || true; poller=
  off+=("$a"); on+=("$b")
  # The coordinator's CPU share of the machine (all cores) over each bench run.
  offcpu+=("$(python3 -c "print($ac / ($aw * $(nproc)))")"); oncpu+=("$(python3 -c "print($bc / ($bw * $(nproc)))")")
  echo "round $r: off $a samples/s (coordinator CPU ${ac} s in ${aw} s), on $b samples/s (coordinator CPU ${bc} s in ${bw} s)"
done
python3 - "${off[*]}" "${on[*]}" "${offcpu[*]}" "${oncpu[*]}" <<'PY'
import statistics, sys
off, on, offcpu, oncpu = ([float(x) for x in a.split()] for a in sys.argv[1:5])
mo, mn = statistics.median(off), statistics.median(on)
print(f"median: off {mo:.0f} samples/s, on {mn:.0f} samples/s, on/off {mn / mo:.3f} ({(mn / mo - 1) * 100:+.1f}%)")
co, cn = statistics.median(offcpu), statistics.median(oncpu)
print(f"coordinator CPU share of the machine, median: off {100 * co:.3f}%, on {100 * cn:.3f}%, "
      f"endpoint {100 * (cn - co):+.3f}% of all cores")
PY
