"""The node phase: which nodes a Workspace runs on, NodeClaims for the missing ones.

It picks the Workspace's nodes from the cache (its own NodeClaims' nodes, BYO nodes matching
``resource.labelSelector``, ``preferredNodes`` first), asks :mod:`.claim_creation` for the
NodeClaims still missing when node auto-provisioning is on, labels GPU nodes with the
accelerator label upstream's pods select on, and says in ``ResourceReady`` how far it got.
"""

from __future__ import annotations

from collections.abc import Sequence

from kaito import kinds
from kaito.api import constants as c
from kaito.api.catalog import GPUConfig
from kaito.api.workspace import Workspace
from kaito.controllers import claim_creation, status
from kaito.controllers.context import BY_WORKSPACE, NODES_BY_LABEL, Context
from kaito.controllers.nodes import (
    NodePlan,
    gpu_capacity,
    plan_nodes,
    selector_index_value,
    selector_text,
)
from kaito.runtime import resources as r
from kaito.runtime.conditions import Condition
from kaito.runtime.errors import NotFound


async def sync(ctx: Context, ws: Workspace) -> tuple[NodePlan, Condition]:
    """The node plan of ``ws`` and its ``ResourceReady`` condition."""
    resolved = ctx.need_resolved()
    nap = ctx.settings.node_auto_provisioning
    key = f"{ws.namespace}/{ws.name}"
    claims = ctx.indexed(kinds.NODECLAIM, BY_WORKSPACE, key) if nap else []
    own_nodes = [
        str(node) for claim in claims if (node := (claim.get("status") or {}).get("nodeName"))
    ]
    pair = selector_index_value(ws.resource.label_selector)
    candidates = ctx.indexed(r.NODE, NODES_BY_LABEL, pair) if pair else ctx.cache.list(r.NODE)
    preset = resolved.preset or resolved.tuning
    gpu = needs_gpu(preset.gpu_count if preset else None, resolved.sku)
    previous = (ws.status.worker_nodes if ws.status is not None else None) or ()
    plan = plan_nodes(
        selector=ws.resource.label_selector,
        instance_type=ws.resource.instance_type,
        required=resolved.nodes,
        nodes=candidates,
        own_claim_nodes=own_nodes,
        preferred=ws.resource.preferred_nodes or (),
        previous_workers=previous,
        auto_provisioning=nap,
        needs_gpu=gpu,
    )
    blocked = None
    if nap:
        creation = await claim_creation.create_missing(
            ws,
            claims,
            plan.nodeclaims_wanted,
            preset,
            resolved.sku,
            client=ctx.client,
            cache=ctx.cache,
            settings=ctx.settings,
            expected=ctx.expected,
        )
        claims, blocked = creation.claims, creation.blocked
    await label_gpu_nodes(ctx, plan.worker_nodes)
    observation = status.NodeObservation(
        required=resolved.nodes,
        ready_nodes=plan.worker_nodes,
        nodeclaims=claims,
        auto_provisioning=nap,
        selector=selector_text(ws.resource.label_selector),
        gpu=gpu,
    )
    resource = status.resource_condition(observation)
    return plan, (blocked if blocked is not None and not resource.is_true else resource)


async def label_gpu_nodes(ctx: Context, names: Sequence[str]) -> None:
    """Give each GPU node the accelerator label (a CPU node of a CPU preset gets none)."""
    for name in names:
        node = ctx.cache.get(r.NODE, name)
        labels = ((node or {}).get("metadata") or {}).get("labels") or {}
        if node is None or labels.get(c.LABEL_ACCELERATOR) == "nvidia":
            continue
        if not gpu_capacity(node):
            continue
        try:
            await ctx.client.patch(
                r.NODE, name, {"metadata": {"labels": {c.LABEL_ACCELERATOR: "nvidia"}}}
            )
        except NotFound:
            continue


def needs_gpu(preset_gpus: int | None, sku: GPUConfig | None) -> bool:
    """Whether the Workspace's nodes must have ``nvidia.com/gpu``: a CPU preset never does,
    and neither does any Workspace (a custom template too) on a CPU instance type."""
    if sku is not None and sku.gpu_count == 0:
        return False
    return preset_gpus is None or preset_gpus > 0
