"""Write an object's status: the conditions and fields a reconciler computed, only what changed.

Both of kaito's reconcilers (Workspaces, NodeClaims) end a pass by saying what the status
should be: a list of :class:`~kaito.runtime.conditions.Condition` and a few plain fields.
:func:`write_status` merges the conditions into the object's current ones the way
apimachinery's ``SetStatusCondition`` does (``lastTransitionTime`` moves only when the status
does; ``observedGeneration`` is the object's generation), adds the fields whose value differs,
and sends one JSON merge patch to the ``/status`` subresource, or nothing at all when nothing
changed (so a steady state costs no write). :func:`write_status_unless_held` also lets a
status that is about to change again wait (:mod:`~kaito.runtime.status_hold`).

The patch carries **no** ``resourceVersion``. Each object's status has exactly one writer, the
leader's reconciler for that kind, which computes it from the cache on every pass; a merge
patch replaces ``conditions`` as a whole, so the only thing an optimistic lock would protect
against is a second writer, and there is none. A stale cache at worst writes a status that the
next pass (triggered by the very watch event that made it stale) corrects, instead of a 409
and a retry loop on every concurrent update of the object's spec or metadata.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kaito.runtime.client import Client
from kaito.runtime.conditions import Condition, set_status_condition
from kaito.runtime.errors import NotFound
from kaito.runtime.resources import Object, ResourceType, meta
from kaito.runtime.status_hold import StatusHold


def status_patch(
    obj: Object, conditions: Sequence[Condition] = (), fields: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The part of ``obj``'s status that must change (empty when it already says it all)."""
    current = obj.get("status") or {}
    generation = int(meta(obj).get("generation") or 0)
    merged = [dict(c) for c in current.get("conditions") or []]
    changed = False
    for wanted in conditions:
        changed |= set_status_condition(merged, wanted.as_dict(generation))
    patch = {k: v for k, v in (fields or {}).items() if current.get(k) != v}
    if changed:
        patch["conditions"] = merged
    return patch


async def write_status(
    client: Client,
    rt: ResourceType,
    obj: Object,
    conditions: Sequence[Condition] = (),
    fields: Mapping[str, Any] | None = None,
) -> bool:
    """Merge ``conditions`` and ``fields`` into ``obj``'s status and write what changed;
    whether a request was sent. An object deleted meanwhile is not an error (False)."""
    patch = status_patch(obj, conditions, fields)
    return bool(patch) and await _send(client, rt, obj, patch)


async def write_status_unless_held(
    client: Client,
    rt: ResourceType,
    obj: Object,
    conditions: Sequence[Condition] = (),
    fields: Mapping[str, Any] | None = None,
    *,
    hold: StatusHold,
    settled: bool,
) -> float | None:
    """:func:`write_status`, except that an intermediate change (``settled`` False) waits in
    ``hold`` (:mod:`~kaito.runtime.status_hold`); the seconds until it is due, else None."""
    patch = status_patch(obj, conditions, fields)
    metadata = meta(obj)
    key = (rt.plural, metadata.get("namespace"), metadata.get("name"))
    if not patch:
        hold.forget(key)
        return None
    wait = hold.delay(key, settled=settled)
    if wait is None:
        await _send(client, rt, obj, patch)
    return wait


async def _send(client: Client, rt: ResourceType, obj: Object, patch: dict[str, Any]) -> bool:
    metadata = meta(obj)
    try:
        await client.patch(
            rt,
            str(metadata.get("name")),
            {"status": patch},
            metadata.get("namespace"),
            subresource="status",
        )
    except NotFound:
        return False
    return True
