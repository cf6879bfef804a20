#!/usr/bin/env bash
# Build kaito's local control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok) from Go modules into a cache outside the repo.
#
#   hack/testenv/build.sh            build if missing, print the bin dir on stdout
#   hack/testenv/build.sh --bin-dir  only print the bin dir (nothing is built)
#
# The cache key covers the pinned versions and every go.mod/go.sum/main.go, so
# the binaries are rebuilt only when a pin changes.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=/dev/null
source "$here/versions.env"

key="$(cd "$here" && cat versions.env ./*/go.mod ./*/go.sum ./*/main.go kube/cmd/*/main.go | sha256sum | cut -c1-12)"
cache_root="${KAITO_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kaito/testenv}"
bin="$cache_root/k8s-${KUBERNETES_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_${key}/bin"
binaries=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok)

if [[ "${1:-}" == "--bin-dir" ]]; then
  echo "$bin"
  exit 0
fi

missing=0
for b in "${binaries[@]}"; do [[ -x "$bin/$b" ]] || missing=1; done
if [[ $missing == 0 ]]; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null || { echo "build.sh: the Go toolchain is required (https://go.dev/dl)" >&2; exit 1; }
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}" GOFLAGS="${GOFLAGS:-} -mod=readonly" CGO_ENABLED=0

staging="$(mktemp -d "${cache_root}.build.XXXXXX" 2>/dev/null || { mkdir -p "$cache_root"; mktemp -d "${cache_root}/.build.XXXXXX"; })"
trap 'rm -rf "$staging"' EXIT
start=$SECONDS

# shellcheck source=/dev/null
source "$here/kube-ldflags.sh"
kv="$kube_version_ldflags"

echo ">> building Kubernetes ${KUBERNETES_VERSION} (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl)" >&2
(cd "$here/kube" && go build -trimpath -ldflags "-s -w$kv" -o "$staging/" ./cmd/...)
echo ">> building etcd ${ETCD_VERSION}" >&2
(cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$staging/etcd" .)
echo ">> building kwok ${KWOK_VERSION}" >&2
(cd "$here/kwok" && go build -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION}" -o "$staging/kwok" .)

mkdir -p "$(dirname "$bin")"
rm -rf "$bin"
mv "$staging" "$bin"
trap - EXIT
echo ">> built in $((SECONDS - start)) s into $bin" >&2
echo "$bin"
