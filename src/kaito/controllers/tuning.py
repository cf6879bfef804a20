"""The manifests of a tuning Workspace: the training ConfigMap and the fine-tuning Job.

As upstream: a ``batch/v1`` Job named after the Workspace whose main container runs
``kaito-tune`` in the preset's image (weights included); input comes from URLs (a
``data-downloader`` init container running :mod:`kaito.tuning.fetch` from kaito's tuning
image, which enforces the SSRF guard at connect time, instead of upstream's ``curl -L``),
an image (its
``/data`` unpacked by an init container) or a volume; output goes to a volume or, for an
image, to a ``pusher`` sidecar that waits for the completion marker and pushes the adapter
as an OCI image whose ``/data`` holds it, ready for ``inference.adapters``.

A preset whose weights are an OCI artifact runs ``kaito-tune`` in the operator's
``tuning_image`` instead, with the inference workload's ``model-weights-downloader`` init
container filling ``/workspace/weights``; a CPU preset's Job requests CPU and memory, no GPU.
"""

from __future__ import annotations

from typing import Any

from kaito.api import constants as c
from kaito.api.catalog import GPUConfig, InferencePreset, TuningPreset
from kaito.api.quantity import format_binary
from kaito.api.workspace import Workspace
from kaito.contracts import tuning_configmaps
from kaito.controllers.pod_parts import (
    WEIGHTS_VOLUME,
    Manifest,
    gpu_count,
    node_requirements,
    owner_reference,
    puller_script,
    weights_downloader,
    workload_values,
    workspace_labels,
)
from kaito.controllers.settings import Settings
from kaito.render import render

RESULTS_DIR = "/mnt/results"
DATA_DIR = "/mnt/data"
PHI3_TARGET_MODULES = "k_proj,q_proj,v_proj,o_proj,gate_proj,down_proj,up_proj"


def config_map_name(ws: Workspace) -> str:
    """The ConfigMap mounted at /mnt/config: the user's ``tuning.config`` or our copy."""
    if ws.tuning is not None and ws.tuning.config:
        return ws.tuning.config
    return f"{ws.name}-tuning-params"


def default_config_map(ws: Workspace) -> Manifest:
    """The default lora/qlora ``training_config.yaml``, owned by the Workspace."""
    method = (ws.tuning.method if ws.tuning else None) or c.TUNING_METHOD_LORA
    return render(
        "tuning/configmap.yaml.j2",
        c={
            "name": f"{ws.name}-tuning-params",
            "namespace": ws.namespace,
            "labels": workspace_labels(ws),
            "owners": [owner_reference(ws)],
            "training_config": tuning_configmaps.training_config_yaml(method),
        },
    )


def _input(ws: Workspace, settings: Settings) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    source = ws.tuning.input if ws.tuning else None
    if source is not None and source.volume_source is not None:
        return None, dict(source.volume_source)
    if source is not None and source.image:
        return (
            {
                "kind": "image",
                "image": settings.puller_image,
                "script": puller_script(
                    source.image,
                    DATA_DIR,
                    "/root/.docker/config.d/data",
                    plain_http=settings.plain_http(source.image),
                ),
                "pull_secrets": list(source.image_pull_secrets or ()),
            },
            {"emptyDir": {}},
        )
    urls = list((source.urls if source else None) or ())
    trusted = [f"--trusted-network={net}" for net in settings.data_networks]
    return (
        {
            "kind": "urls",
            "image": settings.tuning_image,
            "command": [
                "python3",
                "-m",
                "kaito.tuning.fetch",
                f"--dest={DATA_DIR}",
                *trusted,
            ],
            "urls": " ".join(urls),
            "pull_secrets": [],
        },
        {"emptyDir": {}},
    )


def tuning_image(serving: InferencePreset, settings: Settings) -> str:
    """The image running kaito-tune: the preset's own (weights inside), else ``tuning_image``."""
    if serving.weights_artifact:
        return settings.tuning_image
    return serving.image(settings.preset_registry)


def _cpu_requests(preset: TuningPreset) -> dict[str, str] | None:
    if preset.gpu_count:
        return None
    requests = {"cpu": preset.cpu or "1"}
    if preset.memory:
        requests["memory"] = format_binary(preset.memory)
    return requests


def tuning_job(
    ws: Workspace,
    preset: TuningPreset,
    image: str,
    sku: GPUConfig | None,
    settings: Settings,
    revision: str,
    *,
    serving: InferencePreset | None = None,
) -> Manifest:
    """The Job that fine-tunes ``preset`` (``image`` holds kaito-tune, and the weights unless
    ``serving``, the inference preset, says they are an artifact to pull first)."""
    assert ws.tuning is not None
    method = (ws.tuning.method or c.TUNING_METHOD_LORA).lower()
    init, data_volume = _input(ws, settings)
    output = ws.tuning.output
    sidecar = None
    results_volume: dict[str, Any] = {"emptyDir": {}}
    pull_secrets = list((init or {}).get("pull_secrets") or [])
    if output is not None and output.volume_source is not None:
        results_volume = dict(output.volume_source)
    elif output is not None and output.image:
        sidecar = {
            "image": image,
            "command": [
                "python3",
                "-m",
                "kaito.tuning.pusher",
                f"--dir={RESULTS_DIR}",
                f"--image={output.image}",
                f"--model-name={preset.name}",
                *(
                    ["--docker-config=/root/.docker/config.json"]
                    if output.image_push_secret
                    else []
                ),
                "--timeout=86400",
                *(["--plain-http"] if settings.plain_http(output.image) else []),
            ],
            "push_secret": output.image_push_secret or "",
        }
        if output.image_push_secret and output.image_push_secret not in pull_secrets:
            pull_secrets.append(output.image_push_secret)
    env: list[dict[str, str]] = [
        {"name": "PYTORCH_CUDA_ALLOC_CONF", "value": "expandable_segments:True"}
    ]
    if preset.name.startswith("phi-3"):
        env.append({"name": "DEFAULT_TARGET_MODULES", "value": PHI3_TARGET_MODULES})
    return render(
        "tuning/job.yaml.j2",
        j={
            **workload_values(ws, revision),
            "backoff_limit": 2,
            "node_requirements": node_requirements(ws),
            "image_pull_secrets": pull_secrets,
            "init": init,
            "image": image,
            "command": [
                "kaito-tune",
                "--config=/mnt/config/training_config.yaml",
                f"--method={method}",
                f"--data-dir={DATA_DIR}",
                f"--output-dir={RESULTS_DIR}",
                "--model=/workspace/weights",
                "--metrics-port=5000",
            ],
            "env": env,
            "gpu_count": gpu_count(None, sku) if sku else max(1, preset.gpu_count),
            "cpu_requests": _cpu_requests(preset),
            "weights_downloader": weights_downloader(serving, settings) if serving else None,
            "weights_volume": WEIGHTS_VOLUME,
            "sidecar": sidecar,
            "config_map": config_map_name(ws),
            "data_volume": data_volume,
            "results_volume": results_volume,
        },
    )
