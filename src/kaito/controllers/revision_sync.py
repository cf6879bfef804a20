"""The revision phase: a ControllerRevision per distinct Workspace spec, as a StatefulSet's.

The spec's hash (:mod:`.revision`) names the revision; a spec seen before gets its old number
back, so workloads are not re-made for a spec that only round-tripped. The ControllerRevision
name is derived from the Workspace and the number, so a crash between "create" and "see it in
the cache" meets AlreadyExists, never a second revision. At most
:data:`~kaito.controllers.revision.MAX_REVISIONS` are kept.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from kaito.api import constants as c
from kaito.api.workspace import Workspace
from kaito.controllers import revision
from kaito.controllers.context import Context
from kaito.controllers.pod_parts import owner_reference
from kaito.runtime import resources as r
from kaito.runtime.errors import AlreadyExists, NotFound


def revisions_of(ctx: Context, ws: Workspace) -> list[dict[str, Any]]:
    """The Workspace's ControllerRevisions in the cache."""
    return ctx.cache.list(
        r.CONTROLLER_REVISION, ws.namespace, labels={c.LABEL_WORKSPACE_NAME: ws.name}
    )


async def sync(ctx: Context, ws: Workspace) -> tuple[str, dict[str, str]]:
    """The revision of the current spec, and the annotations to write (empty if current)."""
    digest = revision.spec_hash(ws)
    annotations = ws.annotations
    current = annotations.get(c.ANNOTATION_WORKSPACE_REVISION)
    if annotations.get(c.ANNOTATION_WORKSPACE_HASH) == digest and current:
        return current, {}
    revisions = revisions_of(ctx, ws)
    number = 0
    for existing in revisions:
        if (existing["metadata"].get("annotations") or {}).get(
            c.ANNOTATION_WORKSPACE_HASH
        ) == digest:
            number = int(existing.get("revision", 0))
    if not number:
        number = await _create(ctx, ws, digest, revisions)
    if current is not None and current != str(number):
        await ctx.event(
            ws, "Normal", "RevisionUpdated", f"Workspace spec changed: revision {number}"
        )
    return str(number), {
        c.ANNOTATION_WORKSPACE_HASH: digest,
        c.ANNOTATION_WORKSPACE_REVISION: str(number),
    }


async def _create(
    ctx: Context, ws: Workspace, digest: str, revisions: Sequence[dict[str, Any]]
) -> int:
    # Same spec under another hash (an older kaito's, say): same revision, so the
    # workloads are not re-made; else the next one.
    same = revision.unchanged_revision(ws, digest, revisions)
    number = (
        int(same["revision"])
        if same
        else 1 + max((int(x.get("revision", 0)) for x in revisions), default=0)
    )
    manifest = revision.controller_revision(ws, digest, number, owner_reference(ws))
    try:
        await ctx.client.create(r.CONTROLLER_REVISION, manifest, ws.namespace)
    except AlreadyExists:
        found = await ctx.client.get(
            r.CONTROLLER_REVISION, manifest["metadata"]["name"], ws.namespace
        )
        found_hash = (found["metadata"].get("annotations") or {}).get(c.ANNOTATION_WORKSPACE_HASH)
        if found_hash != digest:
            raise RuntimeError("revision name conflicts, the hash values are different") from None
        number = int(found.get("revision", number))
    await _prune(ctx, ws, revisions, keep=revision.MAX_REVISIONS - 1)
    return number


async def _prune(
    ctx: Context, ws: Workspace, revisions: Sequence[dict[str, Any]], keep: int
) -> None:
    ordered = sorted(revisions, key=lambda x: int(x.get("revision", 0)))
    for old in ordered[: max(0, len(ordered) - keep)]:
        with contextlib.suppress(NotFound):
            await ctx.client.delete(r.CONTROLLER_REVISION, old["metadata"]["name"], ws.namespace)
