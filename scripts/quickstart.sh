#!/usr/bin/env bash
# The README's first command: installs what is missing (libzmq, zlib, the Fashion-MNIST data set), builds Cohort
# and runs the main job: a local coordinator and 2 workers training W1 on Fashion-MNIST from cluster.yaml.
# Without the data set (no package available), training falls back to synthetic data and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --data
swift build -c release --product cohort 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\]' || true
test -x .build/release/cohort || { echo "quickstart: build failed" >&2; exit 1; }
exec .build/release/cohort launch cluster.yaml "$@"
