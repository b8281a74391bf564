#!/usr/bin/env bash
# Installs what is missing, checks the tree's habits (formatting, generated kernels), builds Cohort in release
# mode and runs the whole test suite. This is the README's test command, and what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
python3 scripts/gen-gemm-kernels.py --check
bash scripts/format.sh --check
quiet() { grep -vE '^\[[0-9]+/[0-9]+\] (Compiling|Emitting|Wrapping|Write|Linking)' || true; }
set +e
swift build -c release --product cohort 2>&1 | quiet
build=${PIPESTATUS[0]}
set -e
if [[ $build -ne 0 ]]; then echo "test.sh: build failed (exit $build)" >&2; exit "$build"; fi
bash scripts/fuzz.sh --replay
set +e
swift test -c release --parallel 2>&1 | quiet
status=${PIPESTATUS[0]}
exit "$status"
