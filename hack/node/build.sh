#!/usr/bin/env bash
# Build and install what a real local Kubernetes node needs, into a cache outside the repo:
#
#   kubelet, kube-proxy           from the same k8s.io/kubernetes pin as the control plane
#                                 (hack/node/kube, built like hack/testenv/kube)
#   containerd, containerd-shim-runc-v2, ctr
#                                 containerd v2 from Go modules (CONTAINERD_VERSION)
#   pause                         the sandbox image's only file, built with gcc -static from
#                                 build/pause/linux/pause.c inside the k8s.io/kubernetes module
#
# and, from Debian packages when missing: runc, the CNI plugins (/usr/lib/cni), iptables,
# conntrack, buildah, skopeo, debootstrap.
#
#   hack/node/build.sh            build if missing, print the bin dir on stdout
#   hack/node/build.sh --bin-dir  only print the bin dir (nothing is built or installed)
#
# The cache key covers the pins and the Go inputs (go.mod, go.sum, the mains), like
# hack/testenv/build.sh, so binaries are rebuilt only when one of those changes.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=/dev/null
source "$here/../testenv/versions.env"
# shellcheck source=/dev/null
source "$here/versions.env"

key="$(cd "$here" && cat versions.env ../testenv/versions.env kube/go.mod kube/go.sum kube/cmd/*/main.go | sha256sum | cut -c1-12)"
cache_root="${KAITO_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kaito/node}"
bin="$cache_root/k8s-${KUBERNETES_VERSION}_containerd-${CONTAINERD_VERSION}_${key}/bin"
binaries=(kubelet kube-proxy containerd containerd-shim-runc-v2 ctr pause)

if [[ "${1:-}" == "--bin-dir" ]]; then
  echo "$bin"
  exit 0
fi

# -- Debian packages ------------------------------------------------------------------------
declare -A provides=(
  [runc]=/usr/sbin/runc
  [containernetworking-plugins]=/usr/lib/cni/bridge
  [iptables]=/usr/sbin/iptables
  [conntrack]=/usr/sbin/conntrack
  [buildah]=/usr/bin/buildah
  [skopeo]=/usr/bin/skopeo
  [debootstrap]=/usr/sbin/debootstrap
  [gcc]=/usr/bin/gcc
  [libc6-dev]=/usr/lib/x86_64-linux-gnu/libc.a
)
need=()
for pkg in "${!provides[@]}"; do [[ -e "${provides[$pkg]}" ]] || need+=("$pkg"); done
if ((${#need[@]})); then
  if [[ $(id -u) != 0 ]] && ! command -v sudo >/dev/null; then
    echo "hack/node/build.sh: missing Debian packages ${need[*]} and not root (no sudo)" >&2
    exit 1
  fi
  sudo=""
  [[ $(id -u) == 0 ]] || sudo="sudo"
  echo ">> installing Debian packages: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

missing=0
for b in "${binaries[@]}"; do [[ -x "$bin/$b" ]] || missing=1; done
if [[ $missing == 0 ]]; then
  echo "$bin"
  exit 0
fi

# -- Go-built binaries ----------------------------------------------------------------------
command -v go >/dev/null || { echo "hack/node/build.sh: the Go toolchain is required" >&2; exit 1; }
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}" CGO_ENABLED=0
mkdir -p "$cache_root"
staging="$(mktemp -d "$cache_root/.build.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
start=$SECONDS

# shellcheck source=/dev/null
source "$here/../testenv/kube-ldflags.sh"
kv="$kube_version_ldflags"

echo ">> building kubelet and kube-proxy ${KUBERNETES_VERSION}" >&2
(cd "$here/kube" && GOFLAGS="${GOFLAGS:-} -mod=readonly" \
  go build -trimpath -ldflags "-s -w$kv" -o "$staging/" ./cmd/...)

echo ">> building containerd ${CONTAINERD_VERSION}" >&2
ctrd="github.com/containerd/containerd/v2"
GOBIN="$staging" go install -trimpath -ldflags "-s -w -X $ctrd/version.Version=${CONTAINERD_VERSION}" \
  -tags "urfave_cli_no_docs no_btrfs no_devmapper no_zfs" \
  "$ctrd/cmd/containerd@${CONTAINERD_VERSION}" "$ctrd/cmd/ctr@${CONTAINERD_VERSION}"
GOBIN="$staging" go install -trimpath -ldflags "-s -w" -tags "urfave_cli_no_docs no_grpc" \
  "$ctrd/cmd/containerd-shim-runc-v2@${CONTAINERD_VERSION}"

echo ">> building pause from k8s.io/kubernetes ${KUBERNETES_VERSION}" >&2
src="$(cd "$here/kube" && go mod download -json "k8s.io/kubernetes@${KUBERNETES_VERSION}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
gcc -Os -Wall -Werror -static -DVERSION="${KUBERNETES_VERSION}-kaito" \
  -o "$staging/pause" "$src/build/pause/linux/pause.c"
strip "$staging/pause"

mkdir -p "$(dirname "$bin")"
rm -rf "$bin"
mv "$staging" "$bin"
trap - EXIT
echo ">> built in $((SECONDS - start)) s into $bin" >&2
echo "$bin"
