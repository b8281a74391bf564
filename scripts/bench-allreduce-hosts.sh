#!/usr/bin/env bash
# The fp32 ring's bus bandwidth across separate hosts: every rank in a network namespace of its own (its own
# /dev/shm too, so no shared-memory link can form), joined by a bridge, each host's egress shaped with `tc tbf`.
# Prints `cohort bench allreduce --json` lines with the rate and the fraction of the link rate added:
# busbw / link rate, where the link rate is the shaped rate in GB/s (the physical limit of the ring). With
# `--op broadcast` or `--op heal` (the state copy that heals a joiner, for `--workloads`) the fraction is
# copy_gbytes_per_s / link rate. `--burst`: tbf's bucket, sent at the veth's speed after an idle spell (it flatters a
# copy not much longer than it). `--cc`: the hosts' TCP congestion control (default: what a new namespace gets from
# this kernel; the name must be in net.ipv4.tcp_allowed_congestion_control). Each line says which one ran: with bbr,
# whose bandwidth probes pace below the link in some rounds, 3 of 8 runs of a 4 MiB all-reduce at 1 Gbit/s fell to
# 0.85–0.94 of the link, with cubic (Linux's usual default) none did. Arguments after `--` go to
# `cohort bench allreduce` as they are.
#
#   scripts/bench-allreduce-hosts.sh [--hosts N] [--rates unlimited,10gbit,1gbit] [--sizes 4194304,16777216]
#                                    [--wire float32] [--reps 5] [--op allreduce|broadcast|heal]
#                                    [--workloads W1,W2] [--burst 256kb] [--cc NAME] [--binary PATH] [-- EXTRA…]
# Needs root and `ip netns`; prints one line saying why and exits 0 ("skipped") without them.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOSTS=2 RATES=unlimited,10gbit,1gbit SIZES=4194304,16777216 WIRE=float32 REPS=5 BINARY="$ROOT/.build/release/cohort"
OP=allreduce WORKLOADS=W1,W2 BURST=256kb CC="" EXTRA=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --hosts) HOSTS=$2; shift 2 ;;
        --rates) RATES=$2; shift 2 ;;
        --sizes) SIZES=$2; shift 2 ;;
        --wire) WIRE=$2; shift 2 ;;
        --reps) REPS=$2; shift 2 ;;
        --op) OP=$2; shift 2 ;;
        --workloads) WORKLOADS=$2; shift 2 ;;
        --burst) BURST=$2; shift 2 ;;
        --cc) CC=$2; shift 2 ;;
        --binary) BINARY=$2; shift 2 ;;
        --) shift; EXTRA=("$@"); break ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-allreduce-hosts: unknown option $1" >&2; exit 2 ;;
    esac
done
[[ "$HOSTS" =~ ^[2-9]$ ]] || { echo "bench-allreduce-hosts: --hosts must be 2 to 9, got $HOSTS" >&2; exit 2; }
[[ "$(id -u)" == 0 ]] || { echo "bench-allreduce-hosts: skipped (needs root for network namespaces)"; exit 0; }
[[ -x "$BINARY" ]] || { echo "bench-allreduce-hosts: no cohort binary at $BINARY" >&2; exit 1; }

TAG="cohar$$"
WORK=$(mktemp -d /tmp/bench-allreduce-hosts.XXXXXX)
CREATED=()
cleanup() {
    for ns in "${CREATED[@]}"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
add_ns() {
    ip netns add "$1" 2>/dev/null || { echo "bench-allreduce-hosts: skipped (cannot create network namespace $1)"; exit 0; }
    CREATED+=("$1")
    ip -n "$1" link set lo up
}
add_ns "$TAG-br"
ip -n "$TAG-br" link add br0 type bridge
ip -n "$TAG-br" link set br0 up
ADDRS=()
for h in $(seq 1 "$HOSTS"); do
    add_ns "$TAG-h$h"
    ip -n "$TAG-br" link add "v$h" type veth peer name eth0 netns "$TAG-h$h"
    ip -n "$TAG-br" link set "v$h" master br0 up
    ip -n "$TAG-h$h" addr add "10.78.0.$((10 + h))/24" dev eth0
    ip -n "$TAG-h$h" link set eth0 up
    if [[ -n "$CC" ]] && ! ip netns exec "$TAG-h$h" sysctl -q net.ipv4.tcp_congestion_control="$CC" 2>/dev/null; then
        echo "bench-allreduce-hosts: --cc $CC refused (allowed: $(cat /proc/sys/net/ipv4/tcp_allowed_congestion_control))" >&2
        exit 1
    fi
    ADDRS+=("10.78.0.$((10 + h))")
done
# Rank r runs on host r+1, in a mount namespace of its own with a private /dev/shm.
cat > "$WORK/wrapper" <<WRAP
#!/usr/bin/env bash
rank=\$1; shift
exec ip netns exec "$TAG-h\$((rank + 1))" unshare -m sh -c 'mount -t tmpfs -o size=64m cohort-shm /dev/shm && exec "\$@"' sh "\$@"
WRAP
chmod +x "$WORK/wrapper"
addresses=$(IFS=,; echo "${ADDRS[*]}")
CC_USED=$(ip netns exec "$TAG-h1" cat /proc/sys/net/ipv4/tcp_congestion_control)
IFS=, read -ra rates <<<"$RATES"
for rate in "${rates[@]}"; do
    for h in $(seq 1 "$HOSTS"); do
        ip netns exec "$TAG-h$h" tc qdisc del dev eth0 root 2>/dev/null || true
        [[ $rate == unlimited ]] || ip netns exec "$TAG-h$h" tc qdisc add dev eth0 root tbf rate "$rate" burst "$BURST" latency 100ms
    done
    ip netns exec "$TAG-h1" "$BINARY" bench allreduce --ranks "$HOSTS" --transport tcp --sizes "$SIZES" --wire "$WIRE" \
        --reps "$REPS" --op "$OP" --workloads "$WORKLOADS" --rank-addresses "$addresses" --rank-wrapper "$WORK/wrapper" \
        --json "${EXTRA[@]}" 2>"$WORK/err" \
        | python3 -c '
import json, re, sys
rate = sys.argv[1]
m = re.fullmatch(r"([0-9.]+)([kmgt]?)bit", rate)
gbps = float(m.group(1)) * {"": 1e-9, "k": 1e-6, "m": 1e-3, "g": 1, "t": 1e3}[m.group(2)] / 8 if m else None
for line in sys.stdin:
    if not line.startswith("{"): continue
    o = json.loads(line)
    measured = o.get("busbw_gbps", o.get("copy_gbytes_per_s"))
    if measured is None: continue
    o["rate"] = rate; o["hosts"] = int(sys.argv[2]); o["link_gbytes_per_s"] = gbps; o["congestion_control"] = sys.argv[3]
    o["of_link"] = round(measured / gbps, 3) if gbps else None
    print(json.dumps(o), flush=True)' "$rate" "$HOSTS" "$CC_USED" || { cat "$WORK/err" >&2; exit 1; }
done
