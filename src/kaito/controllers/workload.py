"""The manifests of an inference Workspace: Services, ConfigMap, Deployment/StatefulSet.

Python decides every value (image, command, GPUs, affinity, adapters) from the
Workspace, its preset, the instance type and the operator settings; the Jinja
templates in ``templates/inference/`` lay them out. Everything here is a pure
function, pinned by the golden files in ``tests/golden/``.

A CPU preset's container requests the preset's ``cpu`` and ``memory`` and no GPU.
An artifact preset (``weights_artifact``) runs kaito's own ``inference_image``; an init
container ``model-weights-downloader`` (``oras pull <ref> -o /workspace/weights``, plus
``--plain-http`` for an insecure registry) fills the ``model-weights-volume`` emptyDir that
both containers mount at ``/workspace/weights``, and a startup probe on ``/health`` replaces
the 10-minute liveness delay GPU presets keep.
"""

from __future__ import annotations

import copy
from typing import Any

from kaito.api import constants as c
from kaito.api import runtime_choice
from kaito.api.catalog import GPUConfig, InferencePreset
from kaito.api.quantity import format_binary
from kaito.api.workspace import AdapterSpec, Workspace
from kaito.controllers.pod_parts import (
    MODEL_DIR,
    WEIGHTS_VOLUME,
    Manifest,
    gpu_count,
    node_requirements,
    oras_pull,
    owner_reference,
    puller_script,
    workload_values,
    workspace_labels,
)
from kaito.controllers.settings import Settings
from kaito.render import render

CONFIG_PATH = "/mnt/config/inference_config.yaml"
ADAPTERS_DIR = "/mnt/adapter"
POD_INDEX_ENV: list[dict[str, Any]] = [
    {
        "name": "POD_INDEX",
        "valueFrom": {
            "fieldRef": {
                "apiVersion": "v1",
                "fieldPath": "metadata.labels['apps.kubernetes.io/pod-index']",
            }
        },
    }
]
"""A StatefulSet pod's ordinal, from the label the StatefulSet controller sets."""
POD_IP_ENV: dict[str, Any] = {
    "name": "POD_IP",
    "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}},
}
"""The address a Ray node advertises to the others."""


def runtime_of(ws: Workspace, preset: InferencePreset) -> str:
    """The engine kaito-inference runs: ``kaito.sh/runtime``, else the preset's default."""
    return runtime_choice.runtime_of(ws, preset, c.CONTRACT_KAITO)


def downloads_weights(ws: Workspace, preset: InferencePreset) -> bool:
    """Weights fetched from HuggingFace when the server starts."""
    source = runtime_choice.weights_source_of(ws, preset)
    return source == c.WEIGHTS_DOWNLOAD and bool(preset.hf_model_id)


def inference_command(ws: Workspace, preset: InferencePreset) -> list[str]:
    """The ``kaito-inference`` command line of the model container (upstream's run params)."""
    if downloads_weights(ws, preset):
        model = [
            f"--model={preset.hf_model_id}",
            f"--download-dir={MODEL_DIR}",
            "--allow-remote-files",
        ]
    else:
        model = [f"--model={MODEL_DIR}"]
    command = [
        "kaito-inference",
        f"--engine={runtime_of(ws, preset)}",
        *model,
        f"--served-model-name={preset.name}",
        f"--config={CONFIG_PATH}",
        f"--adapters-dir={ADAPTERS_DIR}",
        "--host=0.0.0.0",
        "--port=5000",
    ]
    if preset.cpu_only:
        # float32: the weights are stored so, and most CPUs have no fast bfloat16 matmul
        command += ["--device=cpu", "--dtype=float32"]
    elif preset.family == "phi":
        command += ["--dtype=auto", "--trust-remote-code"]
    else:
        command.append("--dtype=bfloat16")
    return command


def multi_node(ws: Workspace, preset: InferencePreset) -> bool:
    """Several nodes serving one model: vLLM over a Ray cluster, one pod per node."""
    return (
        uses_statefulset(preset)
        and ws.resource.node_count > 1
        and runtime_of(ws, preset) == c.RUNTIME_VLLM
    )


def ray_node_command(ws: Workspace, server: list[str]) -> list[str]:
    """``kaito-inference-node``: pod 0 leads the Ray cluster and runs ``server``, the others
    join it through the Service ``<ws>`` (which selects pod 0)."""
    return [
        "kaito-inference-node",
        f"--nodes={ws.resource.node_count}",
        f"--leader-service={ws.name}",
        f"--namespace={ws.namespace}",
        "--",
        *server,
    ]


def inference_weights_downloader(
    ws: Workspace, preset: InferencePreset, settings: Settings
) -> dict[str, Any] | None:
    """The init container that pulls the weights artifact, when the weights come from one."""
    if runtime_choice.weights_source_of(ws, preset) != c.WEIGHTS_ARTIFACT:
        return None
    if not preset.weights_artifact_image:
        return None  # refused at admission: no artifact is published for this preset
    reference = f"{settings.preset_registry.rstrip('/')}/{preset.weights_artifact_image}"
    return oras_pull(reference, MODEL_DIR, settings)


def cpu_resources(preset: InferencePreset) -> dict[str, str] | None:
    """The requests of a CPU preset's container (no limits: it may use idle cores), else None."""
    if not preset.cpu_only:
        return None
    requests = {"cpu": preset.cpu}
    if preset.memory:
        requests["memory"] = format_binary(preset.memory)
    return requests


def _adapter_name(adapter: AdapterSpec) -> str:
    return (adapter.source.name if adapter.source else None) or ""


def default_inference_config(
    ws: Workspace, preset: InferencePreset | None, sku: GPUConfig | None
) -> str:
    """Contents of ``inference_config.yaml`` when the Workspace names no ConfigMap."""
    lines = [
        "# kaito-inference settings; see `kaito-inference --help`.",
        "max_concurrent_requests: 8",
        "max_queue_size: 64",
    ]
    if preset is not None and preset.context_length:
        lines.append(f"max_input_tokens: {preset.context_length}")
    lines.append("max_output_tokens: 2048")
    if preset is not None and runtime_of(ws, preset) == c.RUNTIME_VLLM:
        lines += [
            "vllm:",
            f"  tensor-parallel-size: {gpu_count(preset, sku)}",
            "  gpu-memory-utilization: 0.95",
        ]
        if multi_node(ws, preset):
            lines += [
                f"  pipeline-parallel-size: {ws.resource.node_count}",
                "  distributed-executor-backend: ray",
            ]
    return "\n".join(lines) + "\n"


def config_map_name(ws: Workspace) -> str:
    """The ConfigMap mounted at /mnt/config: the user's ``inference.config`` or ours."""
    if ws.inference is not None and ws.inference.config:
        return ws.inference.config
    return f"{ws.name}-inference-params"


def inference_config_map(
    ws: Workspace, preset: InferencePreset | None, sku: GPUConfig | None
) -> Manifest:
    return render(
        "inference/configmap.yaml.j2",
        c={
            "name": f"{ws.name}-inference-params",
            "namespace": ws.namespace,
            "labels": workspace_labels(ws),
            "owners": [owner_reference(ws)],
            "inference_config": default_inference_config(ws, preset, sku),
        },
    )


def service_type(ws: Workspace) -> str:
    """``LoadBalancer`` when ``kaito.sh/enablelb`` is true, else ``ClusterIP``."""
    lb = ws.annotations.get(c.ANNOTATION_ENABLE_LB, "").lower() == "true"
    return "LoadBalancer" if lb else "ClusterIP"


def _service_values(ws: Workspace, *, statefulset: bool) -> dict[str, Any]:
    selector = workspace_labels(ws)
    if statefulset:
        selector["statefulset.kubernetes.io/pod-name"] = f"{ws.name}-0"
    return {
        "name": ws.name,
        "namespace": ws.namespace,
        "labels": workspace_labels(ws),
        "owners": [owner_reference(ws)],
        "type": service_type(ws),
        "selector": selector,
    }


def services(ws: Workspace, *, statefulset: bool) -> list[Manifest]:
    """``<ws>`` (http 80 -> 5000, Ray's 6379) and ``<ws>-headless``."""
    values = _service_values(ws, statefulset=statefulset)
    return [
        render("inference/service.yaml.j2", s=values),
        render("inference/headless-service.yaml.j2", s=values),
    ]


def _adapter_values(
    ws: Workspace, settings: Settings
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    from_images: list[dict[str, Any]] = []
    from_volumes: list[dict[str, Any]] = []
    pull_secrets: list[str] = []
    for adapter in (ws.inference.adapters if ws.inference else None) or ():
        source = adapter.source
        if source is None:
            continue
        name = _adapter_name(adapter)
        if source.image:
            secrets = list(source.image_pull_secrets or ())
            from_images.append(
                {
                    "name": name,
                    "script": puller_script(
                        source.image,
                        f"{ADAPTERS_DIR}/{name}",
                        f"/root/.docker/config.d/{name}",
                        plain_http=settings.plain_http(source.image),
                    ),
                    "pull_secrets": secrets,
                }
            )
            pull_secrets.extend(s for s in secrets if s not in pull_secrets)
        elif source.volume_source is not None:
            from_volumes.append({"name": name, "volume_source": dict(source.volume_source)})
    return from_images, from_volumes, pull_secrets


def adapter_pullers(
    ws: Workspace, settings: Settings
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The init containers that pull adapter images into ``/mnt/adapter/<name>``, and the
    projected volumes holding their pull secrets."""
    from_images, _, _ = _adapter_values(ws, settings)
    containers: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = []
    for adapter in from_images:
        mounts = [{"name": "adapter-volume", "mountPath": ADAPTERS_DIR}]
        if adapter["pull_secrets"]:
            config = f"docker-config-{adapter['name']}"
            mounts.append(
                {"name": config, "mountPath": f"/root/.docker/config.d/{adapter['name']}"}
            )
            sources = [
                {
                    "secret": {
                        "name": s,
                        "items": [{"key": ".dockerconfigjson", "path": f"{s}.json"}],
                    }
                }
                for s in adapter["pull_secrets"]
            ]
            volumes.append({"name": config, "projected": {"sources": sources}})
        containers.append(
            {
                "name": f"puller-{adapter['name']}",
                "image": settings.puller_image,
                "command": ["/bin/sh", "-c"],
                "args": [adapter["script"]],
                "volumeMounts": mounts,
            }
        )
    return containers, volumes


def model_env(ws: Workspace) -> list[dict[str, Any]]:
    """Each adapter's strength in a variable named after it, and ``HF_TOKEN`` from the
    ``modelAccessSecret`` (optional), as upstream sets them."""
    env: list[dict[str, Any]] = []
    for adapter in (ws.inference.adapters if ws.inference else None) or ():
        if adapter.strength is not None and _adapter_name(adapter):
            env.append({"name": _adapter_name(adapter), "value": adapter.strength})
    preset = ws.inference.preset if ws.inference else None
    options = preset.preset_options if preset else None
    if options is not None and options.model_access_secret:
        env.append(
            {
                "name": "HF_TOKEN",
                "valueFrom": {
                    "secretKeyRef": {
                        "name": options.model_access_secret,
                        "key": "HF_TOKEN",
                        "optional": True,
                    }
                },
            }
        )
    return env


def uses_statefulset(preset: InferencePreset | None) -> bool:
    """Distributed presets run as a StatefulSet (pod 0 leads the Ray cluster of several nodes)."""
    return preset is not None and preset.supports_distributed


def inference_workload(
    ws: Workspace,
    preset: InferencePreset,
    sku: GPUConfig | None,
    settings: Settings,
    revision: str,
) -> Manifest:
    """The Deployment (one node per replica) or StatefulSet (distributed) serving the preset."""
    from_images, from_volumes, pull_secrets = _adapter_values(ws, settings)
    options = ws.inference.preset.preset_options if ws.inference and ws.inference.preset else None
    for secret in (options.image_pull_secrets if options else None) or ():
        if secret not in pull_secrets:
            pull_secrets.append(secret)
    image = (options.image if options and options.image else None) or settings.inference_image
    statefulset = uses_statefulset(preset)
    values = {
        **workload_values(ws, revision),
        "replicas": ws.resource.node_count,
        "selector": workspace_labels(ws),
        "pod_labels": workspace_labels(ws),
        "pod_annotations": {},
        "node_requirements": node_requirements(ws),
        "image_pull_secrets": pull_secrets,
        "adapters_from_images": from_images,
        "adapters_from_volumes": from_volumes,
        "puller_image": settings.puller_image,
        "container_name": ws.name,
        "image": image,
        "command": (
            ray_node_command(ws, inference_command(ws, preset))
            if multi_node(ws, preset)
            else inference_command(ws, preset)
        ),
        "distributed": statefulset,
        "gpu_count": gpu_count(preset, sku),
        "cpu_requests": cpu_resources(preset),
        "weights_downloader": inference_weights_downloader(ws, preset, settings),
        "weights_volume": (
            WEIGHTS_VOLUME if runtime_choice.weights_source_of(ws, preset) is not None else None
        ),
        "env": model_env(ws) + ([*POD_INDEX_ENV, POD_IP_ENV] if multi_node(ws, preset) else []),
        "config_map": config_map_name(ws),
    }
    template = "inference/statefulset.yaml.j2" if statefulset else "inference/deployment.yaml.j2"
    return render(template, w=values)


def template_workload(ws: Workspace, revision: str) -> Manifest:
    """A Deployment from the user's ``inference.template``, pinned to the selected nodes.

    The user's pod template is kept as written; kaito adds its label, overwrites the
    node affinity with ``labelSelector``'s requirements and appends the GPU tolerations.
    """
    pod = copy.deepcopy((ws.inference.template if ws.inference else None) or {})
    metadata = pod.setdefault("metadata", {})
    metadata["labels"] = {**(metadata.get("labels") or {}), **workspace_labels(ws)}
    spec = pod.setdefault("spec", {})
    requirements = node_requirements(ws)
    if requirements:
        affinity = spec.setdefault("affinity", {})
        affinity["nodeAffinity"] = {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": requirements}]
            }
        }
    tolerations = list(spec.get("tolerations") or [])
    for toleration in (
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
    ):
        if toleration not in tolerations:
            tolerations.append(toleration)
    spec["tolerations"] = tolerations
    return render(
        "inference/template-deployment.yaml.j2",
        w={
            **workload_values(ws, revision),
            "replicas": ws.resource.node_count,
            "selector": workspace_labels(ws),
            "pod_template": pod,
        },
    )
