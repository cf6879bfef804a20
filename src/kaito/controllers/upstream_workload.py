"""The workload of a preset Workspace under the ``upstream`` runtime contract.

Upstream Kaito v0.12 serves every preset from its published ``kaito-base`` image with a
StatefulSet, whatever the node count, and puts two Services in front: ``<ws>`` (pinned to pod
``<ws>-0``, ports for HTTP, Ray and vLLM's KV events) and ``<ws>-headless`` (the pods' DNS
names, which Ray workers join). This module renders exactly those objects, field for field
as captured from upstream's operator (``tests/parity/`` compares them with the reference
and lists every deliberate difference), so that a Workspace served by kaito runs upstream's
images unchanged, and kaito can take over a Workspace upstream created without touching its
pods. The container's command line comes from :mod:`kaito.controllers.upstream_command`.
"""

from __future__ import annotations

import copy
from typing import Any

from kaito.api import constants as c
from kaito.api.catalog import GPUConfig, InferencePreset
from kaito.api.workspace import Workspace
from kaito.controllers import upstream_command as cmd
from kaito.controllers.pod_parts import (
    MODEL_DIR,
    WEIGHTS_VOLUME,
    Manifest,
    gpu_count,
    node_requirements,
    owner_reference,
    workspace_labels,
)
from kaito.controllers.settings import Settings
from kaito.controllers.workload import (
    ADAPTERS_DIR,
    POD_INDEX_ENV,
    adapter_pullers,
    model_env,
    service_type,
)
from kaito.render import render

HTTP_PORT = 5000
KV_EVENTS_PORT = 5557
RAY_PORT = 6379
RAY_DASHBOARD_PORT = 8265
CONFIG_DIR = "/mnt/config"

TOLERATIONS: list[dict[str, str]] = [
    {"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists"},
    {"effect": "NoSchedule", "key": "sku", "operator": "Equal", "value": "gpu"},
    {
        "effect": "NoSchedule",
        "key": "kubernetes.azure.com/scalesetpriority",
        "operator": "Equal",
        "value": "spot",
    },
]
"""Every upstream inference pod tolerates the GPU taints and AKS spot nodes."""


def affinity_requirements(ws: Workspace) -> list[dict[str, Any]]:
    """``labelSelector``'s requirements plus the labels kaito puts on the nodes it creates."""
    return [
        *node_requirements(ws),
        {"key": c.LABEL_WORKSPACE, "operator": "In", "values": [ws.name]},
        {"key": c.LABEL_WORKSPACE_NAMESPACE, "operator": "In", "values": [ws.namespace]},
    ]


def service_ports(*, kv_events: bool) -> list[dict[str, Any]]:
    ports = [
        {"name": "http", "port": 80, "target": HTTP_PORT},
        {"name": "ray", "port": RAY_PORT, "target": RAY_PORT},
        {"name": "dashboard", "port": RAY_DASHBOARD_PORT, "target": RAY_DASHBOARD_PORT},
    ]
    if kv_events:
        ports.append({"name": "kv-events", "port": KV_EVENTS_PORT, "target": KV_EVENTS_PORT})
    return ports


def services(ws: Workspace, *, kv_events: bool) -> list[Manifest]:
    """``<ws>`` (selects pod ``<ws>-0``) and ``<ws>-headless``, both publishing unready pods."""
    values = {
        "name": ws.name,
        "namespace": ws.namespace,
        "owners": [owner_reference(ws)],
        "type": service_type(ws),
        "pod_labels": workspace_labels(ws),
        "selector": {
            **workspace_labels(ws),
            "statefulset.kubernetes.io/pod-name": f"{ws.name}-0",
        },
        "ports": service_ports(kv_events=kv_events),
    }
    return [
        render("inference/upstream/service.yaml.j2", s=values),
        render("inference/upstream/headless-service.yaml.j2", s=values),
    ]


def _http_probe(**fields: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": "/health", "port": HTTP_PORT, "scheme": "HTTP"},
        "successThreshold": 1,
        "timeoutSeconds": 1,
        **fields,
    }


def _exec_probe(script: str, **fields: int) -> dict[str, Any]:
    return {"exec": {"command": ["/bin/sh", "-c", script]}, "successThreshold": 1, **fields}


def probes(ws: Workspace, preset: InferencePreset, nodes: int) -> dict[str, dict[str, Any]]:
    """Startup, readiness and liveness: ``/health`` on one node; the multi-node check else.

    The startup budget grows with the model (upstream: 15 min + 18 s per GiB of weights,
    30 min to 3 h, probed every 10 s)."""
    startup_failures = cmd.upstream_runtimes().preset(preset.name).startup_failure_threshold
    if nodes <= 1:
        return {
            "startupProbe": _http_probe(failureThreshold=startup_failures, periodSeconds=10),
            "readinessProbe": _http_probe(
                failureThreshold=3, initialDelaySeconds=30, periodSeconds=10
            ),
            "livenessProbe": _http_probe(failureThreshold=3, periodSeconds=10),
        }
    leader = cmd.leader_address(ws)
    readiness = f"{cmd.HEALTH_CHECK} readiness --leader-address={leader} --vllm-port={HTTP_PORT}"
    liveness = f"{cmd.HEALTH_CHECK} liveness --leader-address={leader} --ray-port={RAY_PORT}"
    return {
        "startupProbe": _exec_probe(
            readiness,
            failureThreshold=startup_failures,
            periodSeconds=10,
            timeoutSeconds=1,
        ),
        "readinessProbe": _exec_probe(
            readiness, failureThreshold=1, periodSeconds=10, timeoutSeconds=1
        ),
        "livenessProbe": _exec_probe(
            liveness,
            failureThreshold=1,
            initialDelaySeconds=60,
            periodSeconds=10,
            timeoutSeconds=5,
            terminationGracePeriodSeconds=1,
        ),
    }


def _env(ws: Workspace, runtime: str, nodes: int) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = []
    if runtime == c.RUNTIME_VLLM:
        env += [
            {"name": "VLLM_USE_FLASHINFER_SAMPLER", "value": "0"},
            {"name": "VLLM_USE_DEEP_GEMM", "value": "0"},
        ]
    env += model_env(ws)
    if nodes > 1:
        env += POD_INDEX_ENV
    return env


def _has_adapters(ws: Workspace) -> bool:
    return bool(ws.inference and ws.inference.adapters)


def _volumes(ws: Workspace) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, the model container's mounts) in upstream's order."""
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    if ws.inference is not None and ws.inference.config:
        volumes.append(
            {
                "configMap": {"defaultMode": 420, "name": ws.inference.config},
                "name": "config-volume",
            }
        )
        mounts.append({"mountPath": CONFIG_DIR, "name": "config-volume"})
    volumes.append({"emptyDir": {"medium": "Memory"}, "name": "dshm"})
    mounts += [
        {"mountPath": MODEL_DIR, "name": WEIGHTS_VOLUME},
        {"mountPath": "/dev/shm", "name": "dshm"},
    ]
    if _has_adapters(ws):
        volumes.append({"emptyDir": {}, "name": "adapter-volume"})
        mounts.append({"mountPath": ADAPTERS_DIR, "name": "adapter-volume"})
    volumes.append({"emptyDir": {}, "name": WEIGHTS_VOLUME})
    return volumes, mounts


def _pull_secrets(ws: Workspace) -> list[dict[str, str]]:
    names: list[str] = []
    for adapter in (ws.inference.adapters if ws.inference else None) or ():
        for secret in (adapter.source.image_pull_secrets if adapter.source else None) or ():
            if secret not in names:
                names.append(secret)
    preset = ws.inference.preset if ws.inference else None
    for secret in (
        preset.preset_options.image_pull_secrets if preset and preset.preset_options else None
    ) or ():
        if secret not in names:
            names.append(secret)
    return [{"name": name} for name in names]


def base_image(settings: Settings) -> str:
    """``<preset registry>/kaito-base:<tag>``: upstream's one image for every preset."""
    base = cmd.upstream_runtimes().base_image
    return f"{settings.preset_registry.rstrip('/')}/{base}"


def statefulset(
    ws: Workspace,
    preset: InferencePreset,
    sku: GPUConfig | None,
    settings: Settings,
    revision: str,
    runtime: str,
) -> Manifest:
    """The preset's StatefulSet, one replica per node, as upstream v0.12 renders it."""
    # transformers serves each node on its own: only vLLM spans nodes (with Ray)
    nodes = ws.resource.node_count if runtime == c.RUNTIME_VLLM else 1
    gpus = str(gpu_count(preset, sku))
    volumes, mounts = _volumes(ws)
    init_containers, secret_volumes = adapter_pullers(ws, settings)
    volumes += secret_volumes
    ports = [{"containerPort": HTTP_PORT, "name": "http", "protocol": "TCP"}]
    if runtime == c.RUNTIME_VLLM:
        ports.append({"containerPort": KV_EVENTS_PORT, "name": "kv-events", "protocol": "TCP"})
    container: dict[str, Any] = {
        "name": ws.name,
        "image": base_image(settings),
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/sh", "-c", cmd.command_line(ws, preset, sku, runtime)],
        "env": _env(ws, runtime, nodes),
        "ports": ports,
        "resources": {"limits": {"nvidia.com/gpu": gpus}, "requests": {"nvidia.com/gpu": gpus}},
        **probes(ws, preset, nodes),
        "volumeMounts": mounts,
    }
    if not container["env"]:
        del container["env"]
    values = {
        "name": ws.name,
        "namespace": ws.namespace,
        "annotations": {c.ANNOTATION_WORKSPACE_REVISION: revision},
        "owners": [owner_reference(ws)],
        "replicas": ws.resource.node_count,
        "service_name": f"{ws.name}-headless",
        "pod_management_policy": "Parallel",
        "pvc_retention": {"whenDeleted": "Delete", "whenScaled": "Retain"},
        "pod_labels": workspace_labels(ws),
        "node_requirements": affinity_requirements(ws),
        "tolerations": TOLERATIONS,
        "image_pull_secrets": _pull_secrets(ws),
        "init_containers": init_containers,
        "containers": [container],
        "volumes": volumes,
        "extra_pod_spec": {},
    }
    return render("inference/upstream/statefulset.yaml.j2", w=values)


_LAID_OUT = frozenset(
    ("affinity", "tolerations", "imagePullSecrets", "initContainers", "containers", "volumes")
)
"""Pod spec fields the StatefulSet template writes itself; a user template's others pass through."""


def template_statefulset(ws: Workspace) -> Manifest:
    """A StatefulSet from the user's ``inference.template``, as upstream renders it.

    Upstream keeps the pod template as written, adds kaito's pod label, replaces the node
    affinity with the Workspace's and appends its tolerations; the StatefulSet is
    ``OrderedReady`` with no governing Service and keeps PVCs, and carries no annotations.
    """
    pod = copy.deepcopy((ws.inference.template if ws.inference else None) or {})
    spec = pod.get("spec") or {}
    tolerations = list(spec.get("tolerations") or [])
    tolerations += [t for t in TOLERATIONS if t not in tolerations]
    values = {
        "name": ws.name,
        "namespace": ws.namespace,
        "annotations": {},
        "owners": [owner_reference(ws)],
        "replicas": ws.resource.node_count,
        "service_name": "",
        "pod_management_policy": "OrderedReady",
        "pvc_retention": {"whenDeleted": "Retain", "whenScaled": "Retain"},
        "pod_labels": {**((pod.get("metadata") or {}).get("labels") or {}), **workspace_labels(ws)},
        "node_requirements": affinity_requirements(ws),
        "tolerations": tolerations,
        "image_pull_secrets": spec.get("imagePullSecrets") or [],
        "init_containers": spec.get("initContainers") or [],
        "containers": spec.get("containers") or [],
        "volumes": spec.get("volumes") or [],
        "extra_pod_spec": {k: v for k, v in spec.items() if k not in _LAID_OUT},
    }
    return render("inference/upstream/statefulset.yaml.j2", w=values)


def upstream_objects(
    ws: Workspace,
    preset: InferencePreset | None,
    sku: GPUConfig | None,
    settings: Settings,
    revision: str,
    runtime: str,
) -> list[Manifest]:
    """Services, then the StatefulSet: what upstream v0.12 owns for an inference Workspace."""
    if ws.inference is not None and ws.inference.template is not None:
        return [*services(ws, kv_events=True), template_statefulset(ws)]
    if preset is None:
        raise ValueError(f"workspace {ws.namespace}/{ws.name} names no known preset")
    return [
        *services(ws, kv_events=runtime == c.RUNTIME_VLLM),
        statefulset(ws, preset, sku, settings, revision, runtime),
    ]
