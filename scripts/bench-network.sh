#!/usr/bin/env bash
# `cohort bench network`: link rate x gradient method across netns hosts (see scripts/bench_network.py --help).
# Needs root (network namespaces, tc). Example:
#   bash scripts/bench-network.sh --workload W2 --rates unlimited,10gbit,1gbit,100mbit --shapes 2x1,2x2
set -euo pipefail
cd "$(dirname "$0")/.."
[[ "$(id -u)" == 0 ]] || { echo "bench-network: must run as root (network namespaces, tc)" >&2; exit 1; }
command -v tc >/dev/null || { echo "bench-network: tc (iproute2) is missing" >&2; exit 1; }
exec python3 scripts/bench_network.py "$@"
