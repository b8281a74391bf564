#!/usr/bin/env bash
# Cohort's all-reduce and point-to-point throughput beside the reference anchors, in one sitting, with ratios.
#   scripts/bench-allreduce.sh [RANKS...]        (default: 2 4)
# Runs, for each N:  cohort bench allreduce --ranks N --transport tcp   vs  anchors/run.sh mpi N tcp
# then for N=2:      cohort bench allreduce --ranks 2 --transport ipc   vs  anchors/run.sh mpi 2 shm
# for each N:        cohort bench allreduce --ranks N --transport shm   vs  anchors/run.sh mpi N shm
# and                cohort bench p2p --transport tcp                   vs  anchors/run.sh zmq tcp (zero-copy rows)
# and, for each N,   the tcp busbw beside N raw libzmq streams at once   (scripts/zmq-streams.sh N)
# Prints every raw line, then a table of busbw ratios (cohort / reference) per size. Needs a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
ANCHORS="$(dirname "$0")/../../shared/anchors"
[ -x "$ANCHORS/run.sh" ] || ANCHORS=/work/shared/anchors
COHORT=${COHORT:-.build/release/cohort}
[ -x "$COHORT" ] || swift build -c release --product cohort >/dev/null
RANKS=("$@"); [ ${#RANKS[@]} -gt 0 ] || RANKS=(2 4)
export BUILD=${BUILD:-$(mktemp -d)}
OUT=$(mktemp -d)

field() { sed -n "s/.*[\"]*$1[\"]*[=:]\([0-9.]*\).*/\1/p"; }   # value of key=… or "key":… on a line

compare() {  # $1 = cohort json file, $2 = mpi output file, $3 = label
  echo "== $3: busbw GB/s (cohort vs reference) =="
  printf '%10s %12s %12s %8s %12s %12s\n' bytes cohort_GBps ref_GBps ratio cohort_us ref_us
  while read -r line; do
    b=$(echo "$line" | field bytes); c=$(echo "$line" | field busbw_gbps); cl=$(echo "$line" | field latency_us)
    ref=$(grep " bytes=$b " "$2" || true)
    r=$(echo "$ref" | field busbw_GBps); rl=$(echo "$ref" | field lat_us_median)
    ratio=$(awk -v a="$c" -v b="$r" 'BEGIN{ if (b > 0) printf "%.2f", a / b; else print "-" }')
    printf '%10s %12s %12s %8s %12s %12s\n' "$b" "$c" "${r:--}" "$ratio" "$cl" "${rl:--}"
  done < "$1"
}

side_by_side() {  # $1 = ranks, $2 = cohort transport, $3 = OpenMPI transport, $4 = heading
  echo "## $4"
  "$COHORT" bench allreduce --ranks "$1" --transport "$2" --json | tee "$OUT/cohort-$2-$1.json"
  "$ANCHORS/run.sh" mpi "$1" "$3" | tee "$OUT/mpi-$3-$1.txt"
  compare "$OUT/cohort-$2-$1.json" "$OUT/mpi-$3-$1.txt" "np=$1 $2 vs OpenMPI $3"
}

for n in "${RANKS[@]}"; do side_by_side "$n" tcp tcp "np=$n tcp"; done

side_by_side 2 ipc shm "np=2 ipc (unix sockets) vs OpenMPI shared memory"
for n in "${RANKS[@]}"; do side_by_side "$n" shm shm "np=$n shared memory (Cohort's same-host ring links) vs OpenMPI shared memory"; done

echo "## p2p tcp vs raw libzmq (zero-copy)"
"$COHORT" bench p2p --transport tcp --json | tee "$OUT/p2p.json"
"$ANCHORS/run.sh" zmq tcp | grep 'mode=zc' | tee "$OUT/zmq.txt"
echo "== p2p one-way GB/s (cohort vs raw libzmq zc) and allreduce np=2 busbw / raw libzmq =="
printf '%10s %10s %10s %8s %14s %8s\n' bytes p2p_GBps zmq_GBps ratio allreduce2_GBps ratio
while read -r line; do
  b=$(echo "$line" | field bytes); c=$(echo "$line" | field gbps)
  z=$(grep " bytes=$b " "$OUT/zmq.txt" | field GBps_median || true)
  a=$(grep "\"bytes\":$b," "$OUT/cohort-tcp-2.json" 2>/dev/null | field busbw_gbps || true)
  printf '%10s %10s %10s %8s %14s %8s\n' "$b" "$c" "${z:--}" \
    "$(awk -v a="$c" -v b="$z" 'BEGIN{ if (b > 0) printf "%.2f", a / b; else print "-" }')" "${a:--}" \
    "$(awk -v a="$a" -v b="$z" 'BEGIN{ if (b > 0 && a != "") printf "%.2f", a / b; else print "-" }')"
done < "$OUT/p2p.json"

echo "## tcp all-reduce busbw vs what N raw libzmq streams carry at once (scripts/zmq-streams.sh: the ring's ceiling)"
bash scripts/zmq-streams.sh "${RANKS[@]}" | tee "$OUT/streams.txt"
printf '%6s %10s %12s %19s %8s\n' ranks bytes cohort_GBps best_per_stream_GBps ratio
for n in "${RANKS[@]}"; do
  s=$(grep "^streams=$n best_per_stream_GBps=" "$OUT/streams.txt" | field best_per_stream_GBps || true)
  while read -r line; do
    b=$(echo "$line" | field bytes); c=$(echo "$line" | field busbw_gbps)
    printf '%6s %10s %12s %19s %8s\n' "$n" "$b" "$c" "${s:--}" "$(awk -v a="$c" -v b="$s" 'BEGIN{ if (b > 0) printf "%.2f", a / b; else print "-" }')"
  done < "$OUT/cohort-tcp-$n.json"
done
