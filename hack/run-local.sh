#!/usr/bin/env bash
# `make run`: the main job on the local cluster. With the local control plane up
# (kaito testenv up), install kaito's CRDs, start `kaito provisioner --provider=local` and
# `kaito manager` in the background, apply the phi-3 sample Workspace (a simulated GPU node)
# and the SmolLM2 sample (a real node on this machine, real pods from images built here),
# wait until both are ready, then ask SmolLM2 a question through its Service the way a user
# would. Everything keeps running afterwards.
#   hack/run-local.sh          start (idempotent; also after a crash of any component)
#   hack/run-local.sh --down   stop the manager, the provisioner and every real node
set -euo pipefail
cd "$(dirname "$0")/.."
state="${KAITO_TESTENV_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/kaito/testenv}"
nodes_state="${XDG_STATE_HOME:-$HOME/.local/state}/kaito/nodes"
bin="$(hack/testenv/build.sh --bin-dir)"
node_bin="$(hack/node/build.sh --bin-dir)"
images_env="${XDG_CACHE_HOME:-$HOME/.cache}/kaito/images/images.env"
registry="10.245.0.1:5000"
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
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      fi
      rm -f "$pidfile"
    fi
  done
  # real nodes outlive the provisioner (so a restarted one adopts them): remove them too
  "$kaito" local-nodes down --local-state-dir="$nodes_state" --local-bin-dir="$node_bin"
}

start() {
  local component=$1; shift
  local pidfile="$state/kaito-$component.pid"
  if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "kaito $component already running (pid $(cat "$pidfile"))"
    return
  fi
  nohup "$kaito" "$component" --kubeconfig="$KUBECONFIG" "$@" \
    >>"$state/kaito-$component.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  echo "started kaito $component (pid $!, log $state/kaito-$component.log)"
}

wait_ready() {  # wait_ready NAME TIMEOUT
  if ! kubectl wait --for=condition=WorkspaceReady "workspace/$1" --timeout="$2" >/dev/null; then
    kubectl get workspace "$1"
    "$kaito" status "$1" --kubeconfig="$KUBECONFIG" || true
    exit 1
  fi
}

if [[ "${1:-}" == "--down" ]]; then
  stop
  exit 0
fi

real_nodes=1
if [[ $(id -u) != 0 ]]; then
  real_nodes=0
  echo "not root: real nodes are off (kwok-only); the SmolLM2 Workspace is skipped" >&2
fi

if ((real_nodes)); then
  hack/node/build.sh >/dev/null
  hack/images/build.sh >&2
  .venv/bin/python hack/models/smollm2.py --publish "$registry/kaito" --plain-http >/dev/null
  # shellcheck source=/dev/null
  source "$images_env"
fi

kubectl apply --server-side -k manifests/crd >/dev/null
kubectl wait --for=condition=Established crd/workspaces.kaito.sh crd/nodeclaims.karpenter.sh --timeout=60s >/dev/null

provisioner_flags=(--provider=kwok)
manager_flags=()
if ((real_nodes)); then
  provisioner_flags=(
    --provider=local --local-bin-dir="$node_bin" --local-state-dir="$nodes_state"
    --sandbox-image="$KAITO_PAUSE_IMAGE" --insecure-registry="$registry"
  )
  manager_flags=(
    --runtime-contract=kaito --inference-image="$KAITO_INFERENCE_IMAGE" --tuning-image="$KAITO_TUNING_IMAGE"
    --weights-puller-image="$KAITO_PULLER_IMAGE" --puller-image="$KAITO_PULLER_IMAGE"
    --preset-registry="$registry/kaito" --insecure-registries="$registry"
  )
fi
start provisioner "${provisioner_flags[@]}" \
  --metrics-bind-address=127.0.0.1:18081 --health-probe-bind-address=127.0.0.1:18082
start manager "${manager_flags[@]}" \
  --metrics-bind-address=127.0.0.1:18083 --health-probe-bind-address=127.0.0.1:18084 \
  --webhook-host=127.0.0.1 --webhook-port=19443

echo "waiting for the manager to be ready ..."
for _ in $(seq 1 60); do
  curl -sf http://127.0.0.1:18084/readyz >/dev/null && break
  sleep 1
done
curl -sf http://127.0.0.1:18084/readyz >/dev/null || { echo "manager not ready; see $state/kaito-manager.log" >&2; exit 1; }

kubectl apply -f manifests/samples/workspace-phi-3-mini.yaml
if ((real_nodes)); then
  kubectl apply -f manifests/samples/workspace-smollm2-135m-instruct.yaml
fi
echo "waiting for workspace-phi-3-mini to become ready ..."
wait_ready workspace-phi-3-mini 300s
kubectl get workspaces.v1alpha1.kaito.sh workspace-phi-3-mini

if ((real_nodes)); then
  echo
  echo "waiting for workspace-smollm2-135m-instruct (a real node, images and weights pulled) ..."
  wait_ready workspace-smollm2-135m-instruct 900s
  kubectl get workspaces.v1alpha1.kaito.sh workspace-smollm2-135m-instruct
  kubectl get nodes -o wide
  clusterip="$(kubectl get svc workspace-smollm2-135m-instruct -o jsonpath='{.spec.clusterIP}')"
  body='{"prompt":"What is Kubernetes?"}'
  echo
  echo "\$ curl -X POST http://$clusterip/chat -H \"Content-Type: application/json\" -d '$body'"
  # Until the server answers 2xx: kube-proxy may need a moment after the pod turns Ready, and
  # after a restart the Workspace can still say Ready from before while its pod comes back on
  # a new node ("Model not initialized" is a 503, not an answer).
  answer="" ok=0 deadline=$((SECONDS + 600))
  while ((SECONDS < deadline)); do
    if answer="$(curl -sS --fail-with-body --max-time 120 -X POST "http://$clusterip/chat" \
        -H "Content-Type: application/json" -d "$body" 2>&1)"; then
      ok=1
      break
    fi
    sleep 1
  done
  echo "$answer"
  ((ok)) || { echo "no answer from $clusterip within 600 s" >&2; exit 1; }
fi

cat <<MSG

kaito is running on a local control plane: the phi-3 Workspace on a simulated GPU node,
the SmolLM2 Workspace on a real node of this machine (when run as root).
  export KUBECONFIG=$KUBECONFIG
  export PATH=$bin:\$PATH        # kubectl matching the server
  kubectl get workspace,nodeclaims,nodes
  .venv/bin/kaito status workspace-smollm2-135m-instruct
Logs: $state/kaito-manager.log, $state/kaito-provisioner.log, real nodes in $nodes_state/*/logs
Stop everything with: make down
MSG
