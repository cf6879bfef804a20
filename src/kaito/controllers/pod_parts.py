"""What every workload kaito renders for a Workspace shares, inference or tuning.

The labels Services select on, the controller ownerReference that lets the garbage collector
remove children, the metadata of a Deployment, StatefulSet or Job, the node affinity from
``resource.labelSelector``, the GPUs a pod asks for, and the two ways weights and adapters
reach a pod: an ``oras pull`` init container for a weights artifact and a ``skopeo`` puller
for an image's ``/data``. :mod:`.workload` (inference) and :mod:`.tuning` build on these;
pure functions, pinned by the golden files like the rest.
"""

from __future__ import annotations

import shlex
from typing import Any

from kaito.api import constants as c
from kaito.api.catalog import GPUConfig, InferencePreset
from kaito.api.workspace import Workspace
from kaito.controllers.settings import Settings

Manifest = dict[str, Any]

MODEL_DIR = "/workspace/weights"
WEIGHTS_DOWNLOADER = "model-weights-downloader"
"""Upstream's name for the init container that pulls an artifact preset's weights."""
WEIGHTS_VOLUME = "model-weights-volume"


def workspace_labels(ws: Workspace) -> dict[str, str]:
    """The label every child of a Workspace carries (and Services select on)."""
    return {c.LABEL_WORKSPACE: ws.name}


def owner_reference(ws: Workspace) -> dict[str, Any]:
    """The controller ownerReference that lets Kubernetes garbage-collect children."""
    return {
        "apiVersion": ws.api_version,
        "kind": ws.kind,
        "name": ws.name,
        "uid": ws.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def workload_values(ws: Workspace, revision: str) -> dict[str, Any]:
    """Metadata every workload (Deployment, StatefulSet, Job) of a Workspace carries."""
    return {
        "name": ws.name,
        "namespace": ws.namespace,
        "labels": workspace_labels(ws),
        "annotations": {c.ANNOTATION_WORKSPACE_REVISION: revision},
        "owners": [owner_reference(ws)],
    }


def node_requirements(ws: Workspace) -> list[dict[str, Any]]:
    """Required node affinity from ``resource.labelSelector`` (reserved keys stripped)."""
    selector = ws.resource.label_selector
    out: list[dict[str, Any]] = []
    if selector is None:
        return out
    for key, value in sorted((selector.match_labels or {}).items()):
        if key not in c.RESERVED_SELECTOR_LABELS:
            out.append({"key": key, "operator": "In", "values": [value]})
    for expr in selector.match_expressions or ():
        if expr.key in c.RESERVED_SELECTOR_LABELS:
            continue
        requirement: dict[str, Any] = {"key": expr.key, "operator": expr.operator}
        if expr.values:
            requirement["values"] = list(expr.values)
        out.append(requirement)
    return out


def gpu_count(preset: InferencePreset | None, sku: GPUConfig | None) -> int:
    """GPUs to request per pod: all the instance type has, else what the preset needs."""
    if sku is not None and sku.gpu_count > 0:
        return sku.gpu_count
    return preset.gpu_count if preset is not None else 1


def weights_reference(preset: InferencePreset, settings: Settings) -> str:
    """``<preset registry>/kaito-<preset>:<tag>``: the weights artifact of an artifact preset."""
    return preset.image(settings.preset_registry)


def oras_pull(reference: str, dest: str, settings: Settings) -> dict[str, Any]:
    """The ``model-weights-downloader`` init container: ``oras pull <reference> -o <dest>``
    (``--plain-http`` for an insecure registry)."""
    command = ["oras", "pull", reference, "-o", dest]
    if settings.plain_http(reference):
        command.append("--plain-http")
    return {"name": WEIGHTS_DOWNLOADER, "image": settings.weights_puller_image, "command": command}


def weights_downloader(preset: InferencePreset, settings: Settings) -> dict[str, Any] | None:
    """The ``model-weights-downloader`` init container of an artifact preset, else None."""
    if not preset.weights_artifact:
        return None
    return oras_pull(weights_reference(preset, settings), MODEL_DIR, settings)


def puller_script(image: str, target: str, auth_dir: str, *, plain_http: bool = False) -> str:
    """Shell for an init container that copies an image's ``/data`` into ``target``.

    Tries each projected pull secret under ``auth_dir`` (then anonymous), unpacks the
    layers and copies ``/data`` (upstream's puller.sh does the same with skopeo).
    ``plain_http``: the image's registry speaks HTTP (``--src-tls-verify=false``).
    The copy is made readable by all: the init container runs as root, the model server
    does not, and image layers may carry files only their owner can read.
    """
    auth = shlex.quote(auth_dir)
    dest = shlex.quote(target)
    src = ("--src-tls-verify=false " if plain_http else "") + shlex.quote(f"docker://{image}")
    return (
        "set -eu; rm -rf /tmp/image /tmp/rootfs; mkdir -p /tmp/rootfs "
        f"{dest}; pulled=false; "
        f"for auth in {auth}/*.json ''; do "
        'if [ -n "$auth" ] && [ -f "$auth" ]; then opt="--authfile=$auth"; else opt=""; fi; '
        f"if skopeo copy $opt {src} dir:/tmp/image; then pulled=true; break; fi; done; "
        '[ "$pulled" = true ] || { echo "failed to pull image" >&2; exit 1; }; '
        "for layer in /tmp/image/*; do case $(basename $layer) in "
        "manifest.json|version) ;; "
        "*) tar -xf $layer -C /tmp/rootfs 2>/dev/null || true;; esac; done; "
        f"cp -a /tmp/rootfs/data/. {dest}/; chmod -R a+rX {dest}"
    )
