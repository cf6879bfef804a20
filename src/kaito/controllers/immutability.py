"""Update rules enforced by the controller itself, for clusters that run without the webhook.

The webhook refuses changes to immutable fields (``resource.instanceType``, toggling
inference and tuning, the preset, ...). Without it such an update would be half applied:
new NodeClaims that never match, or an old Deployment left running next to a tuning Job.
The controller knows the spec it last acted on (the ControllerRevision named by the
Workspace's hash annotation), so it runs the webhook's own update rules against that and,
when they refuse, acts on nothing and says why in ``InvalidSpec``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kaito.api import constants as c
from kaito.api.validation import validate_update
from kaito.api.wire import WireError, workspace_from_dict
from kaito.api.workspace import Workspace
from kaito.controllers import revision


def recorded_spec(
    ws: Workspace, api_version: str, revisions: Sequence[dict[str, Any]]
) -> Workspace | None:
    """The Workspace as kaito last acted on it, from the ControllerRevision of its hash."""
    digest = ws.annotations.get(c.ANNOTATION_WORKSPACE_HASH)
    if not digest:
        return None
    for rev in revisions:
        annotations = (rev.get("metadata") or {}).get("annotations") or {}
        if annotations.get(c.ANNOTATION_WORKSPACE_HASH) != digest:
            continue
        data = {k: v for k, v in (rev.get("data") or {}).items() if v is not None}
        try:
            return workspace_from_dict(
                {
                    "apiVersion": api_version,
                    "kind": c.WORKSPACE_KIND,
                    "metadata": {"name": ws.name, "namespace": ws.namespace},
                    **data,
                }
            )
        except WireError:
            return None
    return None


def refused_update(
    ws: Workspace,
    api_version: str,
    revisions: Sequence[dict[str, Any]],
    *,
    node_auto_provisioning: bool,
    max_node_count: int,
) -> str | None:
    """Why the change since the recorded revision may not be applied, or ``None``."""
    if revision.spec_hash(ws) == ws.annotations.get(c.ANNOTATION_WORKSPACE_HASH):
        return None  # the spec kaito acted on: nothing to compare (every steady-state pass)
    old = recorded_spec(ws, api_version, revisions)
    if old is None:
        return None
    verdict = validate_update(
        old, ws, node_auto_provisioning=node_auto_provisioning, max_node_count=max_node_count
    )
    if not verdict.errors:
        return None
    return (
        f"this change cannot be applied to a running Workspace: {'; '.join(verdict.errors)}. "
        "Revert it, or delete the Workspace and create it again"
    )
