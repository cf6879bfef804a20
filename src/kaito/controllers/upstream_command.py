"""The command line of upstream's ``kaito-base`` image for one preset Workspace.

Upstream v0.12 runs ``python3 /workspace/vllm/inference_api.py <flags>`` (vLLM, its default)
or ``accelerate launch ... /workspace/tfs/inference_api.py <flags>`` (transformers) inside
``/bin/sh -c``. The flags are a set: upstream builds them from Go maps, so their order
changes from one reconcile to the next. kaito writes them in one stable order, and
:func:`adopt_flag_order` keeps whatever order a running workload already has when the set
is the same, so that taking over upstream's StatefulSet rewrites nothing.

The per-preset and per-runtime flags are data (``kaito/presets/data/upstream.yaml``); what
is computed here is what depends on the Workspace: the model, the GPUs of the instance
type, adapters, the inference ConfigMap and the node count.
"""

from __future__ import annotations

import shlex
from typing import Any

from kaito.api import constants as c
from kaito.api.catalog import GPUConfig, InferencePreset
from kaito.api.workspace import Workspace
from kaito.controllers.pod_parts import gpu_count
from kaito.presets.upstream import Flags, UpstreamPreset, UpstreamRuntimes, upstream_runtimes

__all__ = [
    "HEALTH_CHECK",
    "adopt_flag_order",
    "command_line",
    "flags",
    "leader_address",
    "upstream_runtimes",
]

CONFIG_FILE = "/mnt/config/inference_config.yaml"
RAY_PORT = 6379
MULTI_NODE_SERVING = "/workspace/vllm/multi-node-serving.sh"
HEALTH_CHECK = "python3 /workspace/vllm/multi-node-health-check.py"


def leader_address(ws: Workspace) -> str:
    """Pod 0's DNS name under the headless Service: where Ray workers and probes connect."""
    return f"{ws.name}-0.{ws.name}-headless.{ws.namespace}.svc.cluster.local"


def _gpu_memory_utilization(data: UpstreamRuntimes, sku: GPUConfig | None) -> str:
    """Upstream keys it on the exact GPU model: ``NVIDIA A10`` gets less than the rest."""
    model = sku.gpu_model if sku is not None else ""
    vllm = data.vllm
    return vllm.gpu_memory_utilization_by_gpu_model.get(model, vllm.gpu_memory_utilization)


def _parallelism(
    entry: UpstreamPreset, sku: GPUConfig | None, gpus: int, nodes: int
) -> dict[str, str | None]:
    """Upstream's three tiers: data-parallel when the model fills under half of one GPU of
    a multi-GPU node, else tensor-parallel over the node's GPUs, plus pipeline-parallel over
    the nodes (Ray) when there are several."""
    node_memory = sku.gpu_memory if sku is not None else 0
    if nodes <= 1 and gpus > 1 and entry.model_file_size * gpus * 2 < node_memory:
        return {
            "data-parallel-size": str(gpus),
            "tensor-parallel-size": "1",
            "kaito-kv-cache-cpu-memory-utilization": "0",
        }
    out: dict[str, str | None] = {"tensor-parallel-size": str(gpus)}
    if nodes > 1:
        out.update(
            {
                "pipeline-parallel-size": str(nodes),
                "distributed-executor-backend": "ray",
                "kaito-kv-cache-cpu-memory-utilization": "0",
            }
        )
    return out


def flags(ws: Workspace, preset: InferencePreset, sku: GPUConfig | None, runtime: str) -> Flags:
    """The flags of the model server, in kaito's stable order (a dict: name -> value or None)."""
    data = upstream_runtimes()
    entry = data.preset(preset.name)
    out: dict[str, str | None] = {}
    if runtime == c.RUNTIME_VLLM:
        out["served-model-name"] = entry.served_model_name
        out["model"] = entry.model
        out.update(data.vllm.flags)
        out.update(entry.vllm or {})
        out.update(_parallelism(entry, sku, gpu_count(preset, sku), ws.resource.node_count))
        out["gpu-memory-utilization"] = _gpu_memory_utilization(data, sku)
        if ws.inference and ws.inference.adapters:
            out["enable-lora"] = None
        if ws.inference and ws.inference.config:
            out["kaito-config-file"] = CONFIG_FILE
        return out
    out["served_model_name"] = entry.served_model_name
    out["pretrained_model_name_or_path"] = entry.model
    out.update(data.transformers.flags)
    out.update(entry.transformers or {})
    return out


def _join(program: tuple[str, ...], values: Flags) -> str:
    parts = list(program)
    parts += [
        f"--{name}" if value is None else f"--{name}={value}" for name, value in values.items()
    ]
    return " ".join(parts)


def command_line(
    ws: Workspace, preset: InferencePreset, sku: GPUConfig | None, runtime: str
) -> str:
    """The ``/bin/sh -c`` string of the model container (leader/worker split on many nodes)."""
    data = upstream_runtimes()
    values = flags(ws, preset, sku, runtime)
    if runtime != c.RUNTIME_VLLM:
        return _join(data.transformers.program, values)
    serve = _join(data.vllm.program, values)
    nodes = ws.resource.node_count
    if nodes <= 1:
        return serve
    leader = f"{MULTI_NODE_SERVING} leader --ray_cluster_size={nodes} --ray_port={RAY_PORT}"
    worker = f"{MULTI_NODE_SERVING} worker --ray_address={leader_address(ws)} --ray_port={RAY_PORT}"
    return f'if [ "${{POD_INDEX}}" = "0" ]; then {leader}; {serve}; else {worker}; fi'


def _words(script: str) -> list[str] | None:
    try:
        return shlex.split(script.replace(";", " ; "), posix=True)
    except ValueError:
        return None


def same_flags(a: str, b: str) -> bool:
    """Whether two command strings differ only in the order of their words."""
    words_a, words_b = _words(a), _words(b)
    return words_a is not None and words_b is not None and sorted(words_a) == sorted(words_b)


def adopt_flag_order(desired: dict[str, Any], observed: dict[str, Any] | None) -> None:
    """Keep an observed StatefulSet's command strings where only their flag order differs.

    Changes ``desired`` in place: for each container of the same name whose ``/bin/sh -c``
    script is the same set of words, the observed script replaces kaito's, so the apply that
    follows changes nothing (and restarts no pod) on a workload upstream created.
    """
    if observed is None:
        return
    seen = {
        container.get("name"): container
        for container in (
            ((observed.get("spec") or {}).get("template") or {}).get("spec") or {}
        ).get("containers", [])
    }
    for container in desired["spec"]["template"]["spec"].get("containers", []):
        other = seen.get(container.get("name"))
        mine, theirs = container.get("command") or [], (other or {}).get("command") or []
        if (
            len(mine) == 3
            and len(theirs) == 3
            and mine[:2] == theirs[:2] == ["/bin/sh", "-c"]
            and mine[2] != theirs[2]
            and same_flags(mine[2], theirs[2])
        ):
            container["command"] = list(theirs)
