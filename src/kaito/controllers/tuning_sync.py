"""The tuning phase: create (or re-create) the tuning Job of a tuning Workspace, report it.

Jobs are immutable where it matters (the pod template), so a new Workspace revision
(changed input, output or config) deletes the old Job in the foreground and the next
reconcile creates the new one, as upstream does. A user-named ``tuning.config`` ConfigMap
is validated with upstream's rules first; problems become an InvalidSpec condition.

The runtime contract picks the Job (:func:`.desired.tuning_objects`): ``kaito``
(:mod:`.tuning`) mounts kaito's own copy of the default training config, owned by the
Workspace; ``upstream`` (:mod:`.upstream_tuning`) mounts upstream's: when the Job is to be
created and the namespace has no ConfigMap of the default's name, the default is copied
verbatim from the release namespace (kaito's ``system_namespace``), or, where the install
put none there, from kaito's packaged copy (upstream fails instead), and it is left in place
afterwards, as upstream leaves it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from kaito.api import constants as c
from kaito.api.tuning_config import validate_tuning_configmap
from kaito.api.workspace import Workspace
from kaito.contracts import tuning_configmaps
from kaito.controllers import desired, status, upstream_tuning
from kaito.controllers.context import FIELD_MANAGER, Context, Outcome
from kaito.controllers.diff import needs_apply
from kaito.controllers.inference_sync import WAIT_FOR_WORKLOAD
from kaito.controllers.pod_parts import Manifest
from kaito.runtime import resources as r
from kaito.runtime.errors import AlreadyExists, NotFound


class _Problem(Exception):
    """The Workspace cannot be tuned as written (becomes InvalidSpec)."""


async def sync(ctx: Context, ws: Workspace, revision: str) -> Outcome:
    """The Job of ``ws`` at ``revision`` (created once its nodes are ready), and its status."""
    resource = ctx.need_resource()
    if resource.is_true:
        try:
            job = await _sync_job(ctx, ws, revision)
        except _Problem as problem:
            return Outcome(problem=str(problem))
    else:
        job = ctx.cache.get(r.JOB, ws.name, ws.namespace)
    conds, state = status.tuning_conditions(job, ctx.pods(ws), resource)
    done = state in (c.STATE_SUCCEEDED, c.STATE_FAILED)
    return Outcome(conds, state, None if done else WAIT_FOR_WORKLOAD)


async def _sync_job(ctx: Context, ws: Workspace, revision: str) -> dict[str, Any] | None:
    """The Job as it exists now (None while an old revision's is being replaced)."""
    assert ws.tuning is not None
    resolved = ctx.need_resolved()
    upstream = resolved.contract == c.CONTRACT_UPSTREAM
    problem = desired.tuning_problem(ws, resolved)
    if problem is not None:
        raise _Problem(problem)
    method = (ws.tuning.method or c.TUNING_METHOD_LORA).lower()
    configmap = None
    if ws.tuning.config:
        configmap = ctx.cache.get(r.CONFIG_MAP, ws.tuning.config, ws.namespace)
        if configmap is None:
            raise _Problem(
                f"ConfigMap '{ws.tuning.config}' specified in 'config' not found in "
                f"namespace '{ws.namespace}'"
            )
        errors = validate_tuning_configmap(configmap, method)
        if errors:
            raise _Problem("; ".join(errors))
    objects: list[Manifest] = []
    if not upstream:  # kaito's own default ConfigMap is kept as rendered on every pass
        objects = _objects(ctx, ws, revision)
        for manifest in objects[:-1]:
            observed = ctx.cache.get(r.CONFIG_MAP, manifest["metadata"]["name"], ws.namespace)
            if needs_apply(manifest, observed):
                await ctx.client.apply(r.CONFIG_MAP, manifest, field_manager=FIELD_MANAGER)

    existing = ctx.cache.get(r.JOB, ws.name, ws.namespace)
    if existing is not None:
        annotations = (existing.get("metadata") or {}).get("annotations") or {}
        if annotations.get(c.ANNOTATION_WORKSPACE_REVISION) == revision:
            return existing
        if not (existing.get("metadata") or {}).get("deletionTimestamp"):
            with contextlib.suppress(NotFound):
                await ctx.client.delete(
                    r.JOB, ws.name, ws.namespace, propagation_policy="Foreground"
                )
            await ctx.event(
                ws, "Normal", "JobRecreating", f"Workspace revision {revision}: re-running the Job"
            )
        return None

    if upstream:
        if configmap is None:
            configmap = await _upstream_default_config(ctx, ws, method)
        objects = _objects(ctx, ws, revision, configmap)
    try:
        created = await ctx.client.create(r.JOB, objects[-1], ws.namespace)
    except AlreadyExists:
        return ctx.cache.get(r.JOB, ws.name, ws.namespace)
    await ctx.event(ws, "Normal", "JobCreated", f"Created tuning Job {ws.name}")
    return created


def _objects(
    ctx: Context, ws: Workspace, revision: str, config: Mapping[str, Any] | None = None
) -> list[Manifest]:
    try:
        return desired.tuning_objects(ws, ctx.need_resolved(), ctx.settings, revision, config)
    except ValueError as err:
        raise _Problem(str(err)) from None


async def _upstream_default_config(ctx: Context, ws: Workspace, method: str) -> dict[str, Any]:
    """The default ConfigMap in the Workspace's namespace, copied there first if missing."""
    name = upstream_tuning.default_config_name(ws)
    existing = ctx.cache.get(r.CONFIG_MAP, name, ws.namespace)
    if existing is not None:
        return existing
    source = ctx.cache.get(r.CONFIG_MAP, name, ctx.settings.system_namespace)
    copy = upstream_tuning.copied_config_map(
        source if source is not None else tuning_configmaps.configmap(method), ws.namespace
    )
    try:
        return await ctx.client.create(
            r.CONFIG_MAP, copy, ws.namespace, field_manager=FIELD_MANAGER
        )
    except AlreadyExists:
        return copy
