"""The Karpenter ``NodeClaim``s a Workspace asks for, one per missing GPU node.

Names are deterministic (``ws`` + 9 hex digits of sha256(namespace/name/index)):
a controller that restarts between "decide to create" and "see it in the cache"
computes the same name and gets AlreadyExists instead of a second node. They also
satisfy the AKS agent-pool name rule ``^[a-z][a-z0-9]{0,11}$``.

GPU nodes carry upstream's ``sku=gpu:NoSchedule`` taint (kaito's pods tolerate it, other
pods stay off the GPUs); a CPU instance type (no GPUs in the SKU table) gets no taint.
"""

from __future__ import annotations

import hashlib
from typing import Any

from kaito.api import constants as c
from kaito.api.catalog import GPUConfig, InferencePreset, TuningPreset
from kaito.api.meta import label_selector_as_map
from kaito.api.workspace import Workspace
from kaito.controllers.settings import Settings
from kaito.render import render

DEFAULT_STORAGE = "1Ti"
NODEPOOL = "kaito"


def nodeclaim_name(ws: Workspace, index: int) -> str:
    digest = hashlib.sha256(f"{ws.namespace}/{ws.name}/{index}".encode()).hexdigest()
    return f"ws{digest[:9]}"


def workspace_selector(ws: Workspace) -> dict[str, str]:
    """Labels that find every NodeClaim (and node) of this Workspace."""
    return {c.LABEL_WORKSPACE: ws.name, c.LABEL_WORKSPACE_NAMESPACE: ws.namespace}


def storage_request(preset: InferencePreset | TuningPreset | None) -> str:
    """The preset's disk requirement in whole GiB (the OS disk of the node); 1 TiB for
    template and tuning Workspaces (datasets and checkpoints), as upstream v0.12 asks."""
    if preset is None or isinstance(preset, TuningPreset) or preset.disk <= 0:
        return DEFAULT_STORAGE
    gib = -(-preset.disk // 2**30)
    return f"{gib}Gi"


def _sku(ws: Workspace, settings: Settings, sku: GPUConfig | None) -> GPUConfig | None:
    """``sku``, or the shipped catalog's entry for the Workspace's instance type."""
    if sku is None and ws.resource.instance_type:
        from kaito.presets import get_sku  # kaito.presets imports kaito.api, not controllers

        sku = get_sku(ws.resource.instance_type, settings.cloud)
    return sku


def gpu_node(ws: Workspace, settings: Settings, sku: GPUConfig | None = None) -> bool:
    """False only for an instance type the SKU table lists as a CPU one."""
    sku = _sku(ws, settings, sku)
    return sku is None or not sku.cpu_only


def nodeclaim(
    ws: Workspace,
    index: int,
    preset: InferencePreset | TuningPreset | None,
    settings: Settings,
    *,
    sku: GPUConfig | None = None,
) -> dict[str, Any]:
    """The NodeClaim for the ``index``-th node of ``ws``.

    ``sku`` is the instance type's catalog entry; without it the shipped catalog is asked.
    """
    selector_labels = {
        k: v
        for k, v in label_selector_as_map(ws.resource.label_selector).items()
        if k not in c.RESERVED_SELECTOR_LABELS
    }
    labels = {c.LABEL_NODEPOOL: NODEPOOL, **selector_labels, **workspace_selector(ws)}
    sku = _sku(ws, settings, sku)
    if sku is not None and sku.gpu_count > 0:
        # The label upstream's controller patches onto GPU nodes once they join: on the claim,
        # the node joins with it (NodeClaim labels become Node labels), one write fewer.
        labels[c.LABEL_ACCELERATOR] = "nvidia"
    family = (
        ws.annotations.get(c.ANNOTATION_NODE_IMAGE_FAMILY) or settings.default_node_image_family
    )
    return render(
        "nodes/nodeclaim.yaml.j2",
        n={
            "name": nodeclaim_name(ws, index),
            "labels": labels,
            "annotations": {
                c.ANNOTATION_DO_NOT_DISRUPT: "true",
                c.ANNOTATION_NODE_IMAGE_FAMILY: family.lower(),
            },
            "instance_type": ws.resource.instance_type or "",
            "nodepool": NODEPOOL,
            "storage": storage_request(preset),
            "gpu_taint": gpu_node(ws, settings, sku),
            "azure_sku": settings.cloud == "azure" and bool(ws.resource.instance_type),
        },
    )
