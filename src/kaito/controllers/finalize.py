"""The deletion phase: a Workspace's finalizer stays until none of its NodeClaims is left.

The NodeClaims are nodes someone pays for, and nothing else deletes them (they are
cluster-scoped, so no ownerReference to a namespaced Workspace can). The check is a live list,
not the cache: the finalizer must not go while a NodeClaim remains. The workloads need no help:
their ownerReferences let the garbage collector remove them after the Workspace.
"""

from __future__ import annotations

from kaito import kinds
from kaito.api import constants as c
from kaito.api.workspace import Workspace
from kaito.controllers import nodeclaims
from kaito.controllers.context import Context
from kaito.runtime.conditions import Condition
from kaito.runtime.errors import Conflict, NotFound
from kaito.runtime.reconcile import Result

WAIT_FOR_DELETION = 2.0
"""Look again this soon while NodeClaims are going (their deletion is watched too)."""


def _selector(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


async def finalize(ctx: Context, ws: Workspace) -> Result:
    """Delete the Workspace's NodeClaims, then drop its finalizer once they are gone."""
    if c.WORKSPACE_FINALIZER not in ws.finalizers:
        return Result()
    selector = _selector(nodeclaims.workspace_selector(ws))
    claims = (await ctx.client.list(kinds.NODECLAIM, label_selector=selector)).items
    live = [x for x in claims if not (x.get("metadata") or {}).get("deletionTimestamp")]
    if live:  # one label-selected DELETE for all of them, however many there are
        await ctx.client.delete_collection(kinds.NODECLAIM, label_selector=selector)
        names = sorted(x["metadata"]["name"] for x in live)
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        await ctx.event(
            ws, "Normal", "NodeClaimDeleted", f"Deleting {len(names)} NodeClaim(s): {shown}"
        )
    if claims:
        deleting = Condition(
            c.CONDITION_WORKSPACE_DELETING,
            "True",
            c.REASON_WORKSPACE_DELETED,
            f"workspace is being deleted: waiting for {len(claims)} NodeClaim(s) to go",
        )
        await ctx.write_status(ws, [deleting])
        return Result(requeue_after=WAIT_FOR_DELETION)
    finalizers = [f for f in ws.finalizers if f != c.WORKSPACE_FINALIZER]
    try:
        await ctx.client.patch(
            kinds.WORKSPACE,
            ws.name,
            {"metadata": {"finalizers": finalizers, "resourceVersion": ws.resource_version}},
            ws.namespace,
        )
    except (NotFound, Conflict):
        return Result(requeue_after=WAIT_FOR_DELETION)
    return Result()
