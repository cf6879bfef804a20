"""The inference phase: apply what :func:`.desired.inference_objects` says, report readiness.

Each object (ConfigMap, Services, the Deployment or StatefulSet) is server-side applied only
when the cached copy differs from it (:func:`.diff.needs_apply`), so a steady state costs no
write. Rendering is done once per change: a pass whose inputs (the Workspace, its ConfigMap,
the revision) and whose objects in the cache all have the resourceVersions the last pass
left them with renders and compares nothing (:class:`.context.Applied`). A Workspace whose
runtime contract changed its workload kind has the other kind's workload deleted. While its
nodes are not ready nothing is applied: the conditions say what the cache shows of an
existing workload.
"""

from __future__ import annotations

from typing import Any

from kaito.api.workspace import Workspace
from kaito.controllers import desired, status
from kaito.controllers.context import FIELD_MANAGER, Applied, Context, Outcome
from kaito.controllers.diff import needs_apply
from kaito.controllers.upstream_command import adopt_flag_order
from kaito.runtime import resources as r
from kaito.runtime.errors import NotFound

WAIT_FOR_NODES = 15.0
"""Requeue while nodes come up (watches usually come back sooner)."""
WAIT_FOR_WORKLOAD = 30.0
"""Requeue while the workload is not ready: a crash-looping pod's grace runs out unwatched."""

KINDS_BY_NAME: dict[str, r.ResourceType] = {
    "ConfigMap": r.CONFIG_MAP,
    "Service": r.SERVICE,
    "Deployment": r.DEPLOYMENT,
    "StatefulSet": r.STATEFUL_SET,
    "Job": r.JOB,
}


async def sync(ctx: Context, ws: Workspace, revision: str) -> Outcome:
    """Apply the inference objects of ``ws`` at ``revision`` (once its nodes are ready)."""
    resolved = ctx.need_resolved()
    resource = ctx.need_resource()
    if resource.is_true:
        workload = await _apply(ctx, ws, revision)
    else:
        rt = r.STATEFUL_SET if resolved.statefulset else r.DEPLOYMENT
        workload = ctx.cache.get(rt, ws.name, ws.namespace)
    inference = status.inference_condition(workload, ctx.pods(ws), resource)
    summary = status.summary_conditions(resource, inference)
    state = status.inference_state(summary[0], inference)
    if not resource.is_true:
        requeue: float | None = WAIT_FOR_NODES
    elif not summary[0].is_true:
        requeue = WAIT_FOR_WORKLOAD
    else:
        requeue = None
    return Outcome([inference, *summary], state, requeue)


def _fingerprint(
    ctx: Context, ws: Workspace, revision: str, objects: tuple[tuple[r.ResourceType, str], ...]
) -> tuple[str | None, ...]:
    def version(obj: dict[str, Any] | None) -> str | None:
        return None if obj is None else str(obj["metadata"].get("resourceVersion"))

    config = ws.inference.config if ws.inference is not None else None
    named = ctx.cache.get(r.CONFIG_MAP, config, ws.namespace) if config else None
    cached = (version(ctx.cache.get(rt, name, ws.namespace)) for rt, name in objects)
    return (ws.resource_version, revision, version(named), *cached)


async def _apply(ctx: Context, ws: Workspace, revision: str) -> dict[str, Any] | None:
    key = f"{ws.namespace}/{ws.name}"
    last = ctx.applied.get(key)
    if last is not None and _fingerprint(ctx, ws, revision, last.objects) == last.fingerprint:
        return ctx.cache.get(last.workload, ws.name, ws.namespace)
    workload: dict[str, Any] | None = None
    workload_rt = r.DEPLOYMENT
    objects: list[tuple[r.ResourceType, str]] = []
    written: dict[str, list[str]] = {"Created": [], "Updated": []}
    for manifest in desired.inference_objects(ws, ctx.need_resolved(), ctx.settings, revision):
        rt = KINDS_BY_NAME[manifest["kind"]]
        name = manifest["metadata"]["name"]
        objects.append((rt, name))
        observed = ctx.cache.get(rt, name, ws.namespace)
        current = observed
        if rt is r.STATEFUL_SET:
            adopt_flag_order(manifest, observed)
        if needs_apply(manifest, observed):
            current = await ctx.client.apply(rt, manifest, field_manager=FIELD_MANAGER)
            written["Created" if observed is None else "Updated"].append(
                f"{manifest['kind']} {name}"
            )
        if rt in (r.DEPLOYMENT, r.STATEFUL_SET):
            workload, workload_rt = current, rt
            other = r.DEPLOYMENT if rt is r.STATEFUL_SET else r.STATEFUL_SET
            objects.append((other, ws.name))
            await _drop_other_workload(ctx, ws, other)
    if written["Updated"]:  # one Event per pass, not one per object: fewer API writes
        # Creation has no Event: InferenceReady says it, and an Event is one more write per
        # Workspace; a change to what exists is news the conditions do not carry.
        await ctx.event(ws, "Normal", "WorkloadUpdated", f"Updated {', '.join(written['Updated'])}")
    # the cache's versions now: where this pass wrote, the watch brings a newer one and the
    # next pass compares once more (finding nothing to do)
    done = tuple(objects)
    ctx.applied[key] = Applied(done, workload_rt, _fingerprint(ctx, ws, revision, done))
    return workload


async def _drop_other_workload(ctx: Context, ws: Workspace, rt: r.ResourceType) -> None:
    """Delete the workload of the kind this Workspace no longer runs (its runtime contract
    changed: a Deployment became a StatefulSet or back), if this Workspace owns it."""
    other = ctx.cache.get(rt, ws.name, ws.namespace)
    owners = (other or {}).get("metadata", {}).get("ownerReferences") or []
    if not any(o.get("uid") == ws.uid and o.get("controller") for o in owners):
        return
    try:
        await ctx.client.delete(rt, ws.name, ws.namespace)
    except NotFound:
        return
