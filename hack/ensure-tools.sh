#!/usr/bin/env bash
# Install the system tools kaito's set-up needs, only where the machine lacks them:
# a Go toolchain (to build the control plane; GOTOOLCHAIN=auto fetches the version the
# pinned modules ask for from the Go module proxy) and Python >= 3.11 with venv support.
set -euo pipefail

need=()
command -v go >/dev/null 2>&1 || need+=(golang-go)
command -v git >/dev/null 2>&1 || need+=(git)
command -v curl >/dev/null 2>&1 || need+=(curl ca-certificates)
if ! command -v python3 >/dev/null 2>&1; then
  need+=(python3 python3-venv python3-pip)
elif ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  need+=(python3-venv)
fi

if ((${#need[@]})); then
  echo ">> installing system packages: ${need[*]}" >&2
  sudo=""
  [[ $(id -u) == 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

python3 - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"kaito needs Python >= 3.11, found {sys.version.split()[0]}")
PY
