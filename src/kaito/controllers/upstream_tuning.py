"""The tuning Job of a tuning Workspace under the ``upstream`` runtime contract.

Upstream Kaito v0.12 fine-tunes a preset in its published ``kaito-base`` image
(``fine_tuning.py`` under ``accelerate``): an ``oras`` init container pulls the model
artifact ``<preset registry>/kaito-<model>:<tag>`` into ``/workspace/weights``, the training
parameters come from a ConfigMap (the user's ``tuning.config``, else the method's default,
which upstream copies verbatim from its release namespace into the Workspace's), the input
from URLs (a ``curl`` init container), an image (a ``skopeo`` puller) or a volume, and an
output image is pushed by an ``oras`` ``pusher`` sidecar next to a ``pause`` container. This
module renders that Job field for field as captured from upstream's operator
(``tests/integration/parity/`` compares it with the reference and lists every deliberate
difference), so that a tuning Workspace runs upstream's images unchanged and kaito can take
over a Job upstream created (same revision: left alone). Which presets upstream tunes, and
each one's model artifact, is package data (:mod:`kaito.presets.upstream`, ``tuning:``).

The two scripts are kaito's own (``templates/tuning/upstream/*.sh.j2``), not upstream's:

* the data downloader fetches each URL with curl into ``/mnt/data`` under the last segment
  of its path, HTTP(S) only, three tries, every file non-empty. Upstream's curl image has no
  python, so :mod:`kaito.tuning.fetch` cannot run there; the script enforces the same SSRF
  policy in sh (:func:`url_guard_script`): no redirect is followed, the host is resolved with
  ``getent``, every address is checked as :func:`kaito.urlguard.address_forbidden` does, and
  curl is pinned to the checked address (``--connect-to``);
* the pusher waits for the trainer's completion marker, pushes the adapter as the one-layer
  image whose ``/data`` kaito's adapter pullers read, and then stops the ``pause`` container
  so that the pod can complete; a trainer that exits without the marker fails the pod
  instead of leaving it running.

Where upstream's node affinity keeps only ``labelSelector.matchLabels``, kaito keeps its
``matchExpressions`` too, as for inference (:func:`.workload.node_requirements`). The ``oras``
and ``skopeo`` init-container images are the manager's ``weights_puller_image`` and
``puller_image`` (upstream's by default, so a mirror can stand in for them), as for inference.
"""

from __future__ import annotations

import json
import posixpath
import shlex
from collections.abc import Mapping
from typing import Any

import yaml

from kaito import urlguard
from kaito.api import constants as c
from kaito.api.catalog import GPUConfig, TuningPreset
from kaito.api.workspace import Workspace
from kaito.contracts.tuning_configmaps import CONFIG_KEY
from kaito.controllers.pod_parts import (
    WEIGHTS_VOLUME,
    Manifest,
    gpu_count,
    node_requirements,
    oras_pull,
    puller_script,
    workload_values,
)
from kaito.controllers.settings import Settings
from kaito.controllers.upstream_workload import base_image
from kaito.presets.upstream import TuningRuntime, upstream_runtimes
from kaito.render import render, render_text

METRICS_PORT = 5000
COMPLETION_MARKER = "fine_tuning_completed.txt"
"""What upstream's ``fine_tuning.py`` writes into the output directory when it is done."""
OUTPUT_BASE = "/mnt"
PUSH_CONFIG_DIR = "/root/.docker"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
SERVER_OWNED_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
"""What the API server sets on an object; a copy leaves it for the server to set again."""


def upstream_tuning() -> TuningRuntime:
    return upstream_runtimes().tuning


def _method(ws: Workspace) -> str:
    return ((ws.tuning.method if ws.tuning else None) or c.TUNING_METHOD_LORA).lower()


def default_config_name(ws: Workspace) -> str:
    """``lora-params-template`` or ``qlora-params-template``, by the Workspace's method."""
    return upstream_tuning().default_config[_method(ws)]


def config_map_name(ws: Workspace) -> str:
    """The ConfigMap mounted at ``/mnt/config``: the user's, else the copied default."""
    if ws.tuning is not None and ws.tuning.config:
        return ws.tuning.config
    return default_config_name(ws)


def copied_config_map(source: Mapping[str, Any], namespace: str) -> Manifest:
    """``source`` as upstream copies it into ``namespace``: labels, annotations and data
    as they are (no ownerReference: the copy outlives the Workspace), minus what the API
    server sets."""
    copy: Manifest = json.loads(json.dumps(dict(source)))
    metadata = copy.setdefault("metadata", {})
    for key in SERVER_OWNED_METADATA:
        metadata.pop(key, None)
    metadata["namespace"] = namespace
    copy.pop("status", None)
    return copy


def results_dir(configmap: Mapping[str, Any]) -> str:
    """Where the results volume goes: ``TrainingArguments.output_dir`` of the ConfigMap, under
    ``/mnt`` (upstream's ``PrepareOutputDir``). ValueError for a directory outside ``/mnt``,
    or ``/mnt`` itself, with upstream's words."""
    text = (configmap.get("data") or {}).get(CONFIG_KEY) or ""
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"failed to parse {CONFIG_KEY}: {err}") from None
    training = document.get("training_config") if isinstance(document, dict) else None
    arguments = training.get("TrainingArguments") if isinstance(training, dict) else None
    output_dir = arguments.get("output_dir", "") if isinstance(arguments, dict) else ""
    if not isinstance(output_dir, str):
        raise ValueError("output_dir is not a string")
    if not output_dir:
        return upstream_tuning().default_output_dir
    clean = output_dir if output_dir.startswith(OUTPUT_BASE) else f"{OUTPUT_BASE}/{output_dir}"
    clean = posixpath.normpath(clean)
    if clean == OUTPUT_BASE or not clean.startswith(OUTPUT_BASE):
        raise ValueError(f"invalid output_dir specified: '{output_dir}', must be a directory")
    return clean


def docker_reference(reference: str) -> str:
    """``reference`` in the docker convention, as upstream normalises the push target:
    ``docker.io[/library]`` when it names no registry, ``:latest`` when it has no tag, and no
    tag beside a digest."""
    name, _, digest = reference.partition("@")
    first, slash, rest = name.partition("/")
    if not slash or not ("." in first or ":" in first or first == "localhost"):
        domain, path = "docker.io", name
        if "/" not in path:
            path = f"library/{path}"
    else:
        domain, path = first, rest
    repository, colon, tag = path.rpartition(":")
    if not colon:
        repository, tag = path, ""
    if digest:
        return f"{domain}/{repository}@{digest}"
    return f"{domain}/{repository}:{tag or 'latest'}"


def tolerations(settings: Settings) -> list[dict[str, str]]:
    """The tuning pod's tolerations (not the inference pods'): the spot one only on Azure."""
    data = upstream_tuning()
    extra = data.azure_tolerations if settings.cloud.lower() == "azure" else ()
    return [dict(t) for t in (*data.tolerations, *extra)]


def command_line(sku: GPUConfig | None, preset: TuningPreset) -> list[str]:
    """``fine_tuning.py`` under ``accelerate`` with one process per GPU of the node."""
    data = upstream_tuning()
    processes = gpu_count(None, sku) if sku else max(1, preset.gpu_count)
    return ["/bin/sh", "-c", f"{data.base_command} --num_processes={processes} {data.main_file}"]


def weights_downloader(preset: TuningPreset, settings: Settings) -> dict[str, Any]:
    """``oras pull`` of the preset's model artifact into the weights volume."""
    data = upstream_tuning()
    model = data.model(preset.name)
    reference = f"{settings.preset_registry.rstrip('/')}/{model.model_image}:{model.tag}"
    return {
        **oras_pull(reference, data.weights_dir, settings),
        "volumeMounts": [{"mountPath": data.weights_dir, "name": WEIGHTS_VOLUME}],
    }


FORBIDDEN_V4 = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/3",
)
"""IPv4 networks the sh downloader never connects to: what :func:`kaito.urlguard.
address_forbidden` refuses (loopback, private, link-local, CGNAT, documentation, multicast,
reserved, broadcast), spelled out because sh has no ``ipaddress``; unit-tested against it."""


def url_guard_script() -> str:
    """:mod:`kaito.urlguard`'s checks as sh functions (``check_url``, ``resolve_checked``,
    ``address_forbidden``), for the downloader in upstream's curl image, which has no python."""
    values = {
        "forbidden_v4": " ".join(FORBIDDEN_V4),
        "metadata_hostnames": " ".join(sorted(urlguard.METADATA_HOSTNAMES)),
        "internal_suffixes": " ".join(urlguard.INTERNAL_SUFFIXES),
        "invalid": urlguard.INVALID,
        "scheme": urlguard.SCHEME,
        "host_syntax": urlguard.HOST_SYNTAX,
        "local_host": urlguard.LOCAL_HOST,
        "cluster_host": urlguard.CLUSTER_HOST,
        "local_address": urlguard.LOCAL_ADDRESS,
    }
    quoted = {name: shlex.quote(value) for name, value in values.items()}
    return render_text("tuning/upstream/url-guard.sh.j2", values=quoted)


def data_downloader_script() -> str:
    """kaito's downloader for ``DATA_URLS`` (upstream's environment variables), guarded at
    connect time: no redirects, every resolved address checked, curl pinned to it."""
    return render_text("tuning/upstream/data-downloader.sh.j2", guard=url_guard_script())


def trusted_networks_env(settings: Settings) -> list[dict[str, str]]:
    """``DATA_TRUSTED_NETWORKS`` for the downloader, only when the manager trusts networks
    (``--trusted-data-networks``): the networks its address check lets through."""
    if not settings.data_networks:
        return []
    value = " ".join(str(net) for net in settings.data_networks)
    return [{"name": "DATA_TRUSTED_NETWORKS", "value": value}]


def pusher_script(
    results: str,
    target: str,
    model_name: str,
    *,
    plain_http: bool = False,
    proc: str = "/proc",
    poll_seconds: int = 5,
    start_grace_seconds: int = 600,
) -> str:
    """kaito's pusher: wait for ``<results>/fine_tuning_completed.txt``, push the adapter to
    ``target`` (annotated with the model's name), stop the ``pause`` container.

    ``proc`` is where the pod's processes are listed (its PID namespace is shared); a trainer
    not seen within ``start_grace_seconds``, or gone without the marker, fails the push."""
    annotations = json.dumps({"$manifest": {"sh.kaito.model.name": model_name}})
    flags = ["--registry-config", f"{PUSH_CONFIG_DIR}/config.json"]
    if plain_http:
        flags.append("--plain-http")
    values = {
        "results": results,
        "target": docker_reference(target),
        "marker": posixpath.join(results, COMPLETION_MARKER),
        "annotations": annotations,
        "trainer": upstream_tuning().main_file,
        "proc": proc,
        "files": " ".join(ADAPTER_FILES),
        "layer_type": LAYER_MEDIA_TYPE,
        "config_type": CONFIG_MEDIA_TYPE,
    }
    return render_text(
        "tuning/upstream/pusher.sh.j2",
        p={k: shlex.quote(v) for k, v in values.items()},
        push_flags=" ".join(shlex.quote(f) for f in flags),
        poll_seconds=int(poll_seconds),
        start_grace_seconds=int(start_grace_seconds),
    )


def _input(
    ws: Workspace, settings: Settings
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(init containers, volumes, the main container's mounts) for ``tuning.input``."""
    data = upstream_tuning()
    source = ws.tuning.input if ws.tuning else None
    data_mount = {"mountPath": data.data_dir, "name": "data-volume"}
    empty = {"emptyDir": {}, "name": "data-volume"}
    if source is None:
        return [], [], []
    if source.image:
        suffix = f"{source.name or ''}-tuning-input"
        auth_dir = f"{PUSH_CONFIG_DIR}/config.d/{suffix}"
        secret_mount = {"mountPath": auth_dir, "name": f"docker-config-{suffix}"}
        secrets = [
            {"secret": {"items": [{"key": ".dockerconfigjson", "path": f"{s}.json"}], "name": s}}
            for s in source.image_pull_secrets or ()
        ]
        puller = {
            "name": "puller",
            "image": settings.puller_image,
            "command": ["/bin/sh", "-c"],
            "args": [
                puller_script(
                    source.image,
                    data.data_dir,
                    auth_dir,
                    plain_http=settings.plain_http(source.image),
                )
            ],
            "volumeMounts": [secret_mount, data_mount],
        }
        volumes = [{"name": secret_mount["name"], "projected": {"sources": secrets}}, empty]
        return [puller], volumes, [secret_mount, data_mount]
    if source.urls:
        downloader = {
            "name": "data-downloader",
            "image": data.images["data_downloader"],
            "command": ["sh", "-c", data_downloader_script()],
            "env": [
                {"name": "DATA_URLS", "value": " ".join(source.urls)},
                {"name": "DATA_VOLUME_PATH", "value": data.data_dir},
                *trusted_networks_env(settings),
            ],
            "volumeMounts": [data_mount],
        }
        return [downloader], [empty], [data_mount]
    if source.volume_source is not None:
        return [], [{**dict(source.volume_source), "name": "data-volume"}], [data_mount]
    return [], [], []


def _output(
    ws: Workspace, preset: TuningPreset, results: str, settings: Settings
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, str]]]:
    """(sidecar containers, volumes, imagePullSecrets) for an output image; none for a volume."""
    output = ws.tuning.output if ws.tuning else None
    if output is None or output.volume_source is not None or not output.image:
        return [], [], []
    data = upstream_tuning()
    secret = output.image_push_secret or ""
    volume = {
        "name": "docker-config",
        "projected": {
            "sources": [
                {
                    "secret": {
                        "items": [{"key": ".dockerconfigjson", "path": "config.json"}],
                        "name": secret,
                    }
                }
            ]
        },
    }
    script = pusher_script(
        results, output.image, preset.name, plain_http=settings.plain_http(output.image)
    )
    pusher = {
        "name": "pusher",
        "image": data.images["pusher"],
        "command": ["/bin/sh", "-c"],
        "args": [script],
        "volumeMounts": [
            {"mountPath": PUSH_CONFIG_DIR, "name": "docker-config"},
            {"mountPath": results, "name": "results-volume"},
        ],
    }
    pause = {"name": "pause", "image": data.images["pause"], "imagePullPolicy": "Always"}
    return [pusher, pause], [volume], [{"name": secret}]


def tuning_job(
    ws: Workspace,
    preset: TuningPreset,
    sku: GPUConfig | None,
    settings: Settings,
    revision: str,
    *,
    results: str,
) -> Manifest:
    """The Job upstream v0.12 creates for ``ws``; ``results`` is :func:`results_dir` of the
    ConfigMap it mounts (:func:`config_map_name`)."""
    assert ws.tuning is not None
    data = upstream_tuning()
    gpus = str(gpu_count(None, sku) if sku else max(1, preset.gpu_count))
    init_containers, input_volumes, input_mounts = _input(ws, settings)
    sidecars, output_volumes, pull_secrets = _output(ws, preset, results, settings)
    output = ws.tuning.output
    results_source = (
        dict(output.volume_source)
        if output is not None and output.volume_source is not None
        else {"emptyDir": {}}
    )
    volumes = [
        {"emptyDir": {"medium": "Memory"}, "name": "dshm"},
        {"emptyDir": {}, "name": WEIGHTS_VOLUME},
        {"configMap": {"name": config_map_name(ws)}, "name": "config-volume"},
        {**results_source, "name": "results-volume"},
        *input_volumes,
        *output_volumes,
    ]
    mounts = [
        {"mountPath": "/dev/shm", "name": "dshm"},
        {"mountPath": data.weights_dir, "name": WEIGHTS_VOLUME},
        {"mountPath": data.config_dir, "name": "config-volume"},
        {"mountPath": results, "name": "results-volume"},
        *input_mounts,
    ]
    trainer = {
        "name": ws.name,
        "image": base_image(settings),
        "command": command_line(sku, preset),
        "env": data.env_for(preset.name),
        "ports": [{"containerPort": METRICS_PORT}],
        "resources": {"limits": {"nvidia.com/gpu": gpus}, "requests": {"nvidia.com/gpu": gpus}},
        "volumeMounts": mounts,
    }
    values = {
        **workload_values(ws, revision),
        "node_requirements": node_requirements(ws),
        "tolerations": tolerations(settings),
        "image_pull_secrets": pull_secrets,
        "init_containers": [weights_downloader(preset, settings), *init_containers],
        "containers": [trainer, *sidecars],
        "volumes": volumes,
    }
    return render("tuning/upstream/job.yaml.j2", j=values)
