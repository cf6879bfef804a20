#!/usr/bin/env bash
# Build the CNCF distribution registry (hack/registry/main.go: in-memory storage for the pusher
# tests, filesystem storage for the persistent local registry of `kaito testenv registry up`)
# into a cache outside the repo. Prints the binary's path on stdout.
#
#   hack/registry/build.sh          build if missing, print the binary's path
#   hack/registry/build.sh --path   only print the path (nothing is built)
#
# The cache key covers go.mod, go.sum and main.go, so it is rebuilt only when they change.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
key="$(cd "$here" && cat go.mod go.sum main.go | sha256sum | cut -c1-12)"
cache_root="${KAITO_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kaito/testenv}"
bin="$cache_root/registry_${key}/registry"

if [[ "${1:-}" == "--path" || -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null || { echo "build.sh: the Go toolchain is required (https://go.dev/dl)" >&2; exit 1; }
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}" GOFLAGS="${GOFLAGS:-} -mod=readonly" CGO_ENABLED=0
mkdir -p "$(dirname "$bin")"
staging="$(mktemp "$bin.XXXXXX")"
trap 'rm -f "$staging"' EXIT
start=$SECONDS
echo ">> building the distribution registry" >&2
(cd "$here" && go build -trimpath -ldflags "-s -w" -o "$staging" .)
chmod +x "$staging"
mv "$staging" "$bin"
trap - EXIT
echo ">> built in $((SECONDS - start)) s into $bin" >&2
echo "$bin"
