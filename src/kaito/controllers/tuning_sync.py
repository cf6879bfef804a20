"""Create (or re-create) the tuning Job of a tuning Workspace.

Jobs are immutable where it matters (the pod template), so a new Workspace revision
(changed input, output or config) deletes the old Job in the foreground and the next
reconcile creates the new one, as upstream does. A user-named ``tuning.config`` ConfigMap
is validated with upstream's rules first; problems become an InvalidSpec condition.

The runtime contract picks the Job: ``kaito`` (:mod:`.tuning`) mounts kaito's own copy of the
default training config, owned by the Workspace; ``upstream`` (:mod:`.upstream_tuning`)
mounts upstream's: when the Job is to be created and the namespace has no ConfigMap of the
default's name, the default is copied verbatim from the release namespace (kaito's
``system_namespace``), or, where the install put none there, from kaito's packaged copy
(upstream fails instead), and it is left in place afterwards, as upstream leaves it.
"""

from __future__ import annotations

import contextlib
from typing import Any

import attrs

from kaito.api import constants as c
from kaito.api.catalog import Catalog
from kaito.api.tuning_config import validate_tuning_configmap
from kaito.api.workspace import Workspace
from kaito.contracts import tuning_configmaps
from kaito.controllers import tuning, upstream_tuning
from kaito.controllers.diff import needs_apply
from kaito.controllers.settings import Settings
from kaito.runtime import resources as r
from kaito.runtime.cache import InformerCache
from kaito.runtime.client import Client
from kaito.runtime.errors import AlreadyExists, NotFound
from kaito.runtime.events import EventRecorder

FIELD_MANAGER = "kaito-workspace"


@attrs.frozen
class TuningOutcome:
    job: dict[str, Any] | None
    """The Job as it exists now (None while an old revision is being replaced)."""
    problem: str | None = None
    """Why the Workspace cannot be tuned as written (becomes InvalidSpec)."""


async def sync_tuning(
    ws: Workspace,
    obj: dict[str, Any],
    revision: str,
    *,
    client: Client,
    cache: InformerCache,
    catalog: Catalog,
    settings: Settings,
    recorder: EventRecorder,
    contract: str = c.CONTRACT_KAITO,
) -> TuningOutcome:
    """The Job of ``ws`` at ``revision``, created by the ``contract``'s renderer if missing."""
    assert ws.tuning is not None
    upstream = contract == c.CONTRACT_UPSTREAM
    name = ws.preset_name or ""
    preset = catalog.tuning_preset(name)
    serving = catalog.inference_preset(name)
    if preset is None or serving is None:
        return TuningOutcome(None, f"Unsupported tuning preset name {name}")
    method = (ws.tuning.method or c.TUNING_METHOD_LORA).lower()
    configmap = None
    if ws.tuning.config:
        configmap = cache.get(r.CONFIG_MAP, ws.tuning.config, ws.namespace)
        if configmap is None:
            return TuningOutcome(
                None,
                f"ConfigMap '{ws.tuning.config}' specified in 'config' not found in "
                f"namespace '{ws.namespace}'",
            )
        errors = validate_tuning_configmap(configmap, method)
        if errors:
            return TuningOutcome(None, "; ".join(errors))
    elif not upstream:
        default = tuning.default_config_map(ws)
        observed = cache.get(r.CONFIG_MAP, default["metadata"]["name"], ws.namespace)
        if needs_apply(default, observed):
            await client.apply(r.CONFIG_MAP, default, field_manager=FIELD_MANAGER)

    existing = cache.get(r.JOB, ws.name, ws.namespace)
    if existing is not None:
        annotations = (existing.get("metadata") or {}).get("annotations") or {}
        if annotations.get(c.ANNOTATION_WORKSPACE_REVISION) == revision:
            return TuningOutcome(existing)
        if not (existing.get("metadata") or {}).get("deletionTimestamp"):
            with contextlib.suppress(NotFound):
                await client.delete(r.JOB, ws.name, ws.namespace, propagation_policy="Foreground")
            await recorder.event(
                obj, "Normal", "JobRecreating", f"Workspace revision {revision}: re-running the Job"
            )
        return TuningOutcome(None)

    sku = (
        catalog.sku(ws.resource.instance_type, settings.cloud)
        if ws.resource.instance_type
        else None
    )
    if upstream:
        if configmap is None:
            configmap = await _upstream_default_config(ws, method, client, cache, settings)
        try:
            results = upstream_tuning.results_dir(configmap)
        except ValueError as err:
            return TuningOutcome(None, str(err))
        job = upstream_tuning.tuning_job(ws, preset, sku, settings, revision, results=results)
    else:
        job = tuning.tuning_job(
            ws,
            preset,
            tuning.tuning_image(serving, settings),
            sku,
            settings,
            revision,
            serving=serving,
        )
    try:
        created = await client.create(r.JOB, job, ws.namespace)
    except AlreadyExists:
        return TuningOutcome(cache.get(r.JOB, ws.name, ws.namespace))
    await recorder.event(obj, "Normal", "JobCreated", f"Created tuning Job {ws.name}")
    return TuningOutcome(created)


async def _upstream_default_config(
    ws: Workspace, method: str, client: Client, cache: InformerCache, settings: Settings
) -> dict[str, Any]:
    """The default ConfigMap in the Workspace's namespace, copied there first if missing."""
    name = upstream_tuning.default_config_name(ws)
    existing = cache.get(r.CONFIG_MAP, name, ws.namespace)
    if existing is not None:
        return existing
    source = cache.get(r.CONFIG_MAP, name, settings.system_namespace)
    copy = upstream_tuning.copied_config_map(
        source if source is not None else tuning_configmaps.configmap(method), ws.namespace
    )
    try:
        return await client.create(r.CONFIG_MAP, copy, ws.namespace, field_manager=FIELD_MANAGER)
    except AlreadyExists:
        return copy
