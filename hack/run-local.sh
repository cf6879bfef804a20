#!/usr/bin/env bash
# The main job on the embedded default: with the local control plane up (kaito testenv up),
# install kaito's CRDs. Later steps (manager, provisioner, sample Workspace) extend this.
set -euo pipefail
cd "$(dirname "$0")/.."
state="${KAITO_TESTENV_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/kaito/testenv}"
kubectl="$(hack/testenv/build.sh --bin-dir)/kubectl --kubeconfig=$state/kubeconfig"

if [[ "${1:-}" == "--down" ]]; then
  exit 0
fi

if compgen -G "manifests/crd/*.yaml" >/dev/null; then
  $kubectl apply --server-side -f manifests/crd/ >/dev/null
  $kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
fi
$kubectl get --raw /version
echo
echo "Control plane is up. Use it with:"
echo "  export KUBECONFIG=$state/kubeconfig"
echo "Stop everything with: make down"
