#!/usr/bin/env bash
# `make run`: the main job on the embedded default. With the local control plane up
# (kaito testenv up), install kaito's CRDs, start `kaito provisioner --provider=kwok` and
# `kaito manager` in the background, apply the phi-3 sample Workspace and wait until
# `kubectl get workspace` shows WORKSPACEREADY True. Everything keeps running afterwards.
#   hack/run-local.sh          start (idempotent)
#   hack/run-local.sh --down   stop the manager and provisioner
set -euo pipefail
cd "$(dirname "$0")/.."
state="${KAITO_TESTENV_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/kaito/testenv}"
bin="$(hack/testenv/build.sh --bin-dir)"
export KUBECONFIG="$state/kubeconfig"
kubectl() { "$bin/kubectl" "$@"; }
kaito=".venv/bin/kaito"

stop() {
  for component in manager provisioner; do
    pidfile="$state/kaito-$component.pid"
    if [[ -f "$pidfile" ]]; then
      pid=$(cat "$pidfile")
      if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" && echo "stopped kaito $component (pid $pid)"
      fi
      rm -f "$pidfile"
    fi
  done
}

start() {
  local component=$1; shift
  local pidfile="$state/kaito-$component.pid"
  if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "kaito $component already running (pid $(cat "$pidfile"))"
    return
  fi
  nohup "$kaito" "$component" --kubeconfig="$KUBECONFIG" "$@" \
    >"$state/kaito-$component.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  echo "started kaito $component (pid $!, log $state/kaito-$component.log)"
}

if [[ "${1:-}" == "--down" ]]; then
  stop
  exit 0
fi

kubectl apply --server-side -k manifests/crd >/dev/null
kubectl wait --for=condition=Established crd/workspaces.kaito.sh crd/nodeclaims.karpenter.sh --timeout=60s >/dev/null
start provisioner --provider=kwok --metrics-bind-address=127.0.0.1:18081 --health-probe-bind-address=127.0.0.1:18082
start manager --metrics-bind-address=127.0.0.1:18083 --health-probe-bind-address=127.0.0.1:18084 \
  --webhook-host=127.0.0.1 --webhook-port=19443

echo "waiting for the manager to be ready ..."
for _ in $(seq 1 60); do
  curl -sf http://127.0.0.1:18084/readyz >/dev/null && break
  sleep 1
done
curl -sf http://127.0.0.1:18084/readyz >/dev/null || { echo "manager not ready; see $state/kaito-manager.log" >&2; exit 1; }

kubectl apply -f manifests/samples/workspace-phi-3-mini.yaml
echo "waiting for workspace-phi-3-mini to become ready ..."
if ! kubectl wait --for=condition=WorkspaceReady workspace/workspace-phi-3-mini --timeout=300s >/dev/null; then
  kubectl get workspace workspace-phi-3-mini
  "$kaito" status workspace-phi-3-mini --kubeconfig="$KUBECONFIG" || true
  exit 1
fi
kubectl get workspaces.v1alpha1.kaito.sh workspace-phi-3-mini
echo
kubectl get svc workspace-phi-3-mini
cat <<MSG

kaito is running on a local control plane with simulated GPU nodes.
  export KUBECONFIG=$KUBECONFIG
  export PATH=$bin:\$PATH        # kubectl matching the server
  kubectl get workspace,nodeclaims,nodes
  .venv/bin/kaito status workspace-phi-3-mini
Logs: $state/kaito-manager.log, $state/kaito-provisioner.log
Stop everything with: make down
MSG
