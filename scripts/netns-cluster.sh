#!/usr/bin/env bash
# Multi-host on one machine: a coordinator host and N worker hosts (default 3), each in its own network namespace
# and its own mount namespace with a private /dev/shm, joined by a private bridge (in a namespace of its own, so
# nothing is added to the root namespace). Every cohort process runs inside its host's namespaces and talks only
# over 10.77.0.0/24; no packet can leave the bridge, and workers of different hosts can never find each other's
# shared-memory ring files: between hosts, every gradient byte crosses the (shaped) links.
#
#   scripts/netns-cluster.sh [--hosts N] [--workers-per-host N] [--steps N] [--rate 1gbit] [--job FILE]
#                            [--dataset synthetic|fashion-mnist] [--workload W1|W2] [--timeout S] [--binary PATH]
#                            [--keep DIR] [--json]
#
#   --rate R      limit every host's egress to R with `tc qdisc ... tbf` (netem is not available here)
#   --job FILE    a YAML fragment with top-level job: and/or parallelism: sections that replace the generated ones
#   --coordinator-arg A   pass A to `cohort coordinator` (repeatable: --no-allreduce, --warmup-steps 10, …)
#   --timeout S   hard limit for the whole job (default 120 s); every process runs under `timeout`
#   --keep DIR    write cluster.yaml and the logs to DIR and keep them (default: a temporary directory, removed)
#
# Needs root (or CAP_NET_ADMIN + CAP_SYS_ADMIN) and a kernel that allows `ip netns add`. Everything it creates is
# removed on exit, also on failure or Ctrl-C.
set -euo pipefail

WORKERS_PER_HOST=1
STEPS=60
RATE=""
DATASET=synthetic
WORKLOAD=""
TIMEOUT=120
JSON=0
KEEP=""
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BINARY="$ROOT/.build/release/cohort"
HOSTS=3
JOB_FILE=""
COORD_ARGS=()
SUBNET=10.77.0
COORD_ADDR=$SUBNET.1
COORD_PORT=5555
DATA_PORT=5600

die() { echo "netns-cluster: $*" >&2; exit 1; }
need_value() { [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value"; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --workers-per-host) need_value "$@"; WORKERS_PER_HOST=$2; shift 2 ;;
        --steps) need_value "$@"; STEPS=$2; shift 2 ;;
        --rate) need_value "$@"; RATE=$2; shift 2 ;;
        --dataset) need_value "$@"; DATASET=$2; shift 2 ;;
        --workload) need_value "$@"; WORKLOAD=$2; shift 2 ;;
        --timeout) need_value "$@"; TIMEOUT=$2; shift 2 ;;
        --binary) need_value "$@"; BINARY=$2; shift 2 ;;
        --keep) need_value "$@"; KEEP=$2; shift 2 ;;
        --hosts) need_value "$@"; HOSTS=$2; shift 2 ;;
        --job) need_value "$@"; JOB_FILE=$2; shift 2 ;;
        --coordinator-arg) need_value "$@"; COORD_ARGS+=("$2"); shift 2 ;;
        --json) JSON=1; shift ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
[[ "$WORKERS_PER_HOST" =~ ^[1-9][0-9]*$ ]] || die "--workers-per-host: expected a positive integer, got $WORKERS_PER_HOST"
[[ "$HOSTS" =~ ^[1-9][0-9]?$ && "$HOSTS" -le 50 ]] || die "--hosts: expected 1 to 50, got $HOSTS"
[[ -z "$JOB_FILE" || -r "$JOB_FILE" ]] || die "--job: cannot read $JOB_FILE"
[[ "$STEPS" =~ ^[1-9][0-9]*$ ]] || die "--steps: expected a positive integer, got $STEPS"
[[ "$TIMEOUT" =~ ^[1-9][0-9]*$ ]] || die "--timeout: expected whole seconds, got $TIMEOUT"
[[ -z "$RATE" || "$RATE" =~ ^[0-9]+(\.[0-9]+)?([kmgt]?(bit|bps))$ ]] || die "--rate: expected a tc rate like 1gbit or 100mbit, got $RATE"
[[ "$(id -u)" == 0 ]] || die "must run as root (it creates network namespaces)"
command -v ip >/dev/null || die "the ip command (iproute2) is missing"
command -v unshare >/dev/null || die "the unshare command (util-linux) is missing"
[[ -z "$RATE" ]] || command -v tc >/dev/null || die "--rate needs tc (iproute2)"
[[ -x "$BINARY" ]] || die "no cohort binary at $BINARY (swift build -c release, or --binary PATH)"

# Names unique to this run, so concurrent runs never collide.
TAG="cohort$$"
NS_BRIDGE="$TAG-br"
NS_COORD="$TAG-c"
declare -a NS_HOSTS ADDRS PIDS
for h in $(seq 1 $HOSTS); do NS_HOSTS+=("$TAG-h$h"); ADDRS+=("$SUBNET.$((10 + h))"); done
CREATED=()
PIDS=()

if [[ -n "$KEEP" ]]; then mkdir -p "$KEEP"; WORK=$(cd "$KEEP" && pwd); else WORK=$(mktemp -d /tmp/netns-cluster.XXXXXX); fi

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # Our own processes first (by pid), then anything still inside our namespaces (only we started processes there).
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 20); do
        local alive=0
        for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [[ $alive == 0 ]] && break
        sleep 0.1
    done
    for ns in "${CREATED[@]}"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    # Deleting a namespace deletes the veth ends and the bridge in it.
    for ns in "${CREATED[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    [[ -n "$KEEP" ]] || rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
trap 'echo "netns-cluster: interrupted" >&2; exit 130' INT TERM

add_ns() {
    if ! err=$(ip netns add "$1" 2>&1); then
        die "cannot create network namespace $1 ($err); this needs root and a kernel/container that permits 'ip netns add'"
    fi
    CREATED+=("$1")
    ip -n "$1" link set lo up
}

# A host namespace $1 with address $2, wired to the bridge through a veth pair (eth0 inside, v<n> on the bridge).
add_host() {
    local ns=$1 addr=$2 n=$3
    add_ns "$ns"
    ip -n "$NS_BRIDGE" link add "v$n" type veth peer name eth0 netns "$ns"
    ip -n "$NS_BRIDGE" link set "v$n" master br0 up
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" link set eth0 up
    if [[ -n "$RATE" ]]; then
        # Token bucket on the host's egress: each host's NIC sends at most RATE (both directions are shaped,
        # since every byte leaves some host). burst must hold at least one MTU-sized packet per timer tick.
        ip netns exec "$ns" tc qdisc add dev eth0 root tbf rate "$RATE" burst 256kb latency 100ms
    fi
}

echo "netns-cluster: creating namespaces $NS_BRIDGE (bridge), $NS_COORD ($COORD_ADDR), ${NS_HOSTS[*]} (${ADDRS[*]})" >&2
add_ns "$NS_BRIDGE"
ip -n "$NS_BRIDGE" link add br0 type bridge
ip -n "$NS_BRIDGE" link set br0 up
add_host "$NS_COORD" "$COORD_ADDR" 0
for h in $(seq 0 $((HOSTS - 1))); do add_host "${NS_HOSTS[$h]}" "${ADDRS[$h]}" $((h + 1)); done
[[ -z "$RATE" ]] || echo "netns-cluster: egress of every host limited to $RATE (tc tbf)" >&2

# Reachability check before starting anything: every worker host pings the coordinator host (on the bridge only).
if command -v ping >/dev/null; then
    for h in $(seq 0 $((HOSTS - 1))); do
        ip netns exec "${NS_HOSTS[$h]}" ping -c 1 -W 2 "$COORD_ADDR" >/dev/null \
            || die "${ADDRS[$h]} cannot reach $COORD_ADDR over the bridge"
    done
fi

TOTAL=$((HOSTS * WORKERS_PER_HOST))
CONFIG="$WORK/cluster.yaml"
# The job's token (curve off): every worker and the coordinator prove it on each connection.
TOKEN="$WORK/job-token"
(umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$TOKEN"; echo >> "$TOKEN")
{
    echo "# Written by scripts/netns-cluster.sh: one coordinator host and $HOSTS worker hosts in network namespaces."
    echo "cluster:"
    echo "  name: netns"
    echo "  coordinator: {host: $COORD_ADDR, port: $COORD_PORT}"
    echo "  data_ports: $DATA_PORT"
    echo "  interface: $COORD_ADDR"
    echo "  security: {token_file: \"$TOKEN\"}"
    echo "hosts:"
    for a in "${ADDRS[@]}"; do echo "  - {address: $a, workers: $WORKERS_PER_HOST}"; done
    if [[ -z "$JOB_FILE" ]] || ! grep -q '^job:' "$JOB_FILE"; then
        echo "job:"
        if [[ -n "$WORKLOAD" ]]; then
            echo "  workload: $WORKLOAD"
        else
            echo "  model: {layers: [784, 128, 10], activation: relu, init: he_normal}"
            echo "  optimizer: {name: momentum, lr: 0.05, momentum: 0.9}"
        fi
        echo "  batch_size: $((32 * TOTAL))"
        echo "  steps: $STEPS"
        echo "  seed: 1"
        if [[ "$DATASET" == synthetic ]]; then
            echo "  data: {dataset: synthetic, max_train_examples: 20000, max_test_examples: 2000}"
        else
            echo "  data: {dataset: $DATASET, synthetic_fallback: true}"
        fi
    fi
    if [[ -z "$JOB_FILE" ]] || ! grep -q '^parallelism:' "$JOB_FILE"; then
        echo "parallelism: {data_parallel: $TOTAL}"
    fi
    [[ -z "$JOB_FILE" ]] || { echo "# from $JOB_FILE"; grep -v '^\s*#' "$JOB_FILE"; }
    echo "timeouts: {heartbeat_interval_s: 0.5, peer_deadline_s: 10, rendezvous_timeout_s: 60}"
    echo "output: {metrics_file: $WORK/metrics.jsonl}"
} > "$CONFIG"
"$BINARY" validate "$CONFIG" >/dev/null || die "the generated $CONFIG is invalid"

JSON_FLAG=()
[[ $JSON == 1 ]] && JSON_FLAG=(--json)
echo "netns-cluster: coordinator in $NS_COORD, $WORKERS_PER_HOST worker(s) in each of ${NS_HOSTS[*]}; $STEPS steps, timeout ${TIMEOUT}s" >&2
timeout -k 5 "$TIMEOUT" ip netns exec "$NS_COORD" "$BINARY" coordinator --config "$CONFIG" "${JSON_FLAG[@]}" "${COORD_ARGS[@]}" \
    >"$WORK/coordinator.out" 2>"$WORK/coordinator.err" &
COORD_PID=$!
PIDS+=("$COORD_PID")
# One shell per host, in the host's network namespace and a mount namespace of its own with a fresh tmpfs on
# /dev/shm: the workers of one host share it (and their shared-memory rings), no two hosts do. It starts the host's
# workers, waits for them, and exits with the last failing worker's status.
host_shell='mount -t tmpfs -o size=1g,mode=1777 cohort-shm /dev/shm || exit 97
binary=$1 coord=$2 addr=$3 port=$4 per_host=$5 work=$6 token=$7
pids=()
for i in $(seq 0 $((per_host - 1))); do
    "$binary" worker --coordinator "$coord" --host "$addr" --interface "$addr" --data-port $((port + i)) \
        --local-index "$i" --rendezvous-timeout 60 --token-file "$token" >"$work/worker-$addr-$i.log" 2>&1 &
    pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=$?; done
exit $rc'
for h in $(seq 0 $((HOSTS - 1))); do
    timeout -k 5 "$TIMEOUT" ip netns exec "${NS_HOSTS[$h]}" unshare --mount --propagation private \
        bash -c "$host_shell" host-shell "$BINARY" "tcp://$COORD_ADDR:$COORD_PORT" "${ADDRS[$h]}" "$DATA_PORT" \
        "$WORKERS_PER_HOST" "$WORK" "$TOKEN" &
    PIDS+=("$!")
done

set +e
wait "$COORD_PID"
COORD_RC=$?
WORKER_RC=0
for pid in "${PIDS[@]:1}"; do wait "$pid" || WORKER_RC=$?; done
set -e

cat "$WORK/coordinator.err" >&2
cat "$WORK/coordinator.out"
if [[ $COORD_RC != 0 || $WORKER_RC != 0 ]]; then
    [[ $COORD_RC == 124 ]] && echo "netns-cluster: the job did not finish within ${TIMEOUT}s" >&2
    for f in "$WORK"/worker-*.log; do
        [[ -s "$f" ]] && { echo "--- $(basename "$f")" >&2; tail -n 20 "$f" >&2; }
        true
    done
    [[ $WORKER_RC == 97 ]] && echo "netns-cluster: a host could not mount its private /dev/shm" >&2
    die "job failed (coordinator exit $COORD_RC, last failing host exit $WORKER_RC)"
fi
echo "netns-cluster: done; $TOTAL workers on $HOSTS hosts$([[ -n "$RATE" ]] && echo ", $RATE links")" >&2
