#!/usr/bin/env bash
# Installs what is missing, builds Cohort in release mode and runs the whole test suite.
# This is the README's test command, and what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --product cohort 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\]' || true
test -x .build/release/cohort || { echo "test.sh: build failed" >&2; exit 1; }
swift test -c release --parallel 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\] (Compiling|Emitting|Wrapping|Write|Linking)' 
exit "${PIPESTATUS[0]}"
