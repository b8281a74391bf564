#!/usr/bin/env bash
# What loopback TCP carries per stream when N raw libzmq streams run at once: the ceiling of a ring all-reduce's
# busbw over tcp on this host. A ring of N ranks keeps N links busy together, one stream each, and busbw equals
# the rate of one link (each carries 2(N−1)/N·S while the all-reduce of S bytes runs); the one-way figure of
# `../shared/anchors/run.sh zmq tcp` is one stream with the whole machine to itself. Uses the anchors' zmq_thr
# (zero-copy sender, receiver that does not read the data, so this is generous to the all-reduce).
# An all-reduce may cut its buffer into messages of any size, so the ceiling is the best message size's rate.
#   scripts/zmq-streams.sh [N...]     (default: 1 2 4)
# Prints per message size and N: "streams=N bytes=S per_stream_GBps=MEAN min=… streams_GBps=…", then
# "streams=N best_per_stream_GBps=X at_bytes=S".
set -euo pipefail
cd "$(dirname "$0")/.."
ANCHORS="$(dirname "$0")/../../shared/anchors"
[ -f "$ANCHORS/zmq_thr.c" ] || ANCHORS=/work/shared/anchors
[ -f /usr/include/zmq.h ] || bash scripts/setup.sh
BUILD=${BUILD:-$(mktemp -d)}
gcc -O3 -march=native "$ANCHORS/zmq_thr.c" -o "$BUILD/zmq_thr" -lzmq
COUNTS=("$@"); [ ${#COUNTS[@]} -gt 0 ] || COUNTS=(1 2 4)
for n in "${COUNTS[@]}"; do
  best=0; at=0
  for sz in 262144:512 1048576:128 4194304:32 16777216:8; do
    bytes=${sz%%:*}; msgs=${sz##*:}
    pids=()
    for i in $(seq 0 $((n - 1))); do
      # 41 batches (~2 s): a sender that dialled before its receiver bound retries after libzmq's 100 ms
      # reconnect interval, and the other streams run alone meanwhile; the median batch is after that.
      "$BUILD/zmq_thr" "tcp://127.0.0.1:$((5577 + i))" "$bytes" "$msgs" 41 zc > "$BUILD/s$i.txt" &
      pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    rates=$(cat "$BUILD"/s[0-9]*.txt | sed -n 's/.*GBps_median=\([0-9.]*\).*/\1/p' | head -n "$n" | tr '\n' ' ')
    rm -f "$BUILD"/s[0-9]*.txt
    line=$(echo "$rates" | awk -v n="$n" -v b="$bytes" '{ s = 0; m = 1e9; for (i = 1; i <= NF; i++) { s += $i; if ($i < m) m = $i }
      printf "streams=%d bytes=%d per_stream_GBps=%.3f min=%.3f streams_GBps=%s\n", n, b, s / NF, m, $0 }')
    echo "$line"
    r=$(echo "$line" | sed -n 's/.*per_stream_GBps=\([0-9.]*\).*/\1/p')
    if awk -v a="$r" -v b="$best" 'BEGIN{ exit !(a > b) }'; then best=$r; at=$bytes; fi
  done
  echo "streams=$n best_per_stream_GBps=$best at_bytes=$at"
done
