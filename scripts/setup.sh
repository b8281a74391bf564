#!/usr/bin/env bash
# Installs what Cohort needs on Debian 12 (as root) when it is missing: libzmq, zlib, and optionally
# the Fashion-MNIST data set and Python plotting. Safe to run again: it installs nothing already there.
#   scripts/setup.sh            build dependencies
#   scripts/setup.sh --data     also the Fashion-MNIST data set (dataset-fashion-mnist)
#   scripts/setup.sh --plots    matplotlib (for scripts/plot_*.py; now installed by default, the flag is kept)
set -euo pipefail
want_data=0; want_plots=0
for a in "$@"; do
  case "$a" in --data) want_data=1 ;; --plots) want_plots=1 ;; *) echo "setup.sh: unknown option $a" >&2; exit 2 ;; esac
done
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
pkgs=()
[ -f /usr/include/zmq.h ] || pkgs+=(libzmq3-dev)
[ -f /usr/include/zlib.h ] || pkgs+=(zlib1g-dev)
command -v pkg-config >/dev/null || pkgs+=(pkg-config)
if [ "$want_data" = 1 ] && ! ls /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz >/dev/null 2>&1; then
  pkgs+=(dataset-fashion-mnist)
fi
if [ ${#pkgs[@]} -gt 0 ]; then
  echo "setup: installing ${pkgs[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || true
  if ! $SUDO apt-get install -y -qq "${pkgs[@]}" >/dev/null; then
    # The data set is optional (training falls back to synthetic data); the libraries are not.
    core=(); for p in "${pkgs[@]}"; do [ "$p" = dataset-fashion-mnist ] || core+=("$p"); done
    [ ${#core[@]} -eq 0 ] || $SUDO apt-get install -y -qq "${core[@]}" >/dev/null
    echo "setup: dataset-fashion-mnist could not be installed; training will use synthetic data" >&2
  fi
fi
# The status endpoint's tests (issue 18): promtool and a Prometheus server (Debian's prometheus), and a headless
# browser (Debian's chromium). Optional: without them those tests skip and say why.
observe=()
command -v promtool >/dev/null || observe+=(prometheus)
command -v chromium >/dev/null || observe+=(chromium)
if [ ${#observe[@]} -gt 0 ]; then
  echo "setup: installing ${observe[*]} (status endpoint tests)" >&2
  export DEBIAN_FRONTEND=noninteractive
  [ ${#pkgs[@]} -gt 0 ] || $SUDO apt-get update -qq || true
  $SUDO apt-get install -y -qq --no-install-recommends "${observe[@]}" >/dev/null 2>&1 ||
    echo "setup: ${observe[*]} could not be installed; the tests that need them skip" >&2
fi
# matplotlib draws `cohort plot` and the plots `launch` writes (scripts/plot_run.py); its tests skip without it.
if ! python3 -c 'import matplotlib' 2>/dev/null; then
  python3 -m pip install -q matplotlib >/dev/null 2>&1 || echo "setup: matplotlib could not be installed; plots are skipped" >&2
fi
