#!/usr/bin/env bash
# Build Prometheus (prometheus, promtool) from Go modules into a cache outside the repo, for the
# tests that evaluate kaito's dashboard and alerts against a real server
# (src/kaito/testenv/prometheus.py). Nothing is installed: no service, no user, no config.
#
#   hack/prometheus/build.sh            build if missing, print the bin dir on stdout
#   hack/prometheus/build.sh --bin-dir  only print the bin dir (nothing is built)
#
# Not Debian's `prometheus` package: Debian builds it without Kubernetes service discovery
# (removed since 1.5.0+ds-1 for client-go's dependencies), which the in-cluster test needs
# (kubernetes_sd_configs, as the Prometheus Operator generates from the ServiceMonitors).
# The build keeps only that discovery (build tags remove_all_sd enable_kubernetes_sd; static
# and file targets are always there), which halves what is downloaded and compiled: about
# 8 minutes cold with an empty Go module cache, seconds when cached.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=/dev/null
source "$here/versions.env"

cache_root="${KAITO_PROMETHEUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kaito/prometheus}"
bin="$cache_root/${PROMETHEUS_VERSION}/bin"
binaries=(prometheus promtool)

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

command -v go >/dev/null || { echo "hack/prometheus/build.sh: the Go toolchain is required (https://go.dev/dl)" >&2; exit 1; }
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}" CGO_ENABLED=0
mkdir -p "$cache_root"
staging="$(mktemp -d "$cache_root/.build.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
start=$SECONDS

module="github.com/prometheus/prometheus"
version="github.com/prometheus/common/version"
echo ">> building Prometheus ${PROMETHEUS_VERSION} (prometheus, promtool)" >&2
GOBIN="$staging" go install -trimpath -tags "remove_all_sd enable_kubernetes_sd" \
  -ldflags "-s -w -X $version.Version=${PROMETHEUS_VERSION#v} -X $version.Branch=release" \
  "$module/cmd/prometheus@${PROMETHEUS_MODULE_VERSION}" "$module/cmd/promtool@${PROMETHEUS_MODULE_VERSION}" </dev/null
"$staging/prometheus" --version >&2

mkdir -p "$(dirname "$bin")"
rm -rf "$bin"
mv "$staging" "$bin"
trap - EXIT
echo ">> built in $((SECONDS - start)) s into $bin" >&2
echo "$bin"
