"""Workspace revisions: the spec hash and ControllerRevisions, as upstream keeps them.

The hash is upstream's: sha256 over what Go's ``json.Encoder`` writes for the
Workspace's ``resource``, ``inference`` and ``tuning`` *as Go structs* (each line
ending in a newline; see :mod:`kaito.api.gojson`), so a Workspace upstream reconciled
keeps its hash, and its revision, when kaito takes it over. A new hash means a new
ControllerRevision ``<ws>-<hash[:5]>`` with ``revision`` = latest + 1, and the
Workspace's ``workspace.kaito.io/hash`` / ``workspace.kaito.io/revision`` annotations.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from kaito.api import constants as c
from kaito.api import gojson
from kaito.api.wire import workspace_to_dict
from kaito.api.workspace import Workspace

MAX_REVISIONS = 10

SPEC_GO_TYPES = {
    "resource": "v1beta1.ResourceSpec",
    "inference": "*v1beta1.InferenceSpec",
    "tuning": "*v1beta1.TuningSpec",
}
"""The spec fields upstream hashes, in its order, with their Go types (v1beta1 for both
API versions: upstream's controller reads every Workspace as v1beta1)."""


def spec_of(ws: Workspace) -> dict[str, Any]:
    wire = workspace_to_dict(ws)
    return {key: wire.get(key) for key in SPEC_GO_TYPES}


def hash_of(spec: Mapping[str, Any]) -> str:
    """The hash of a spec dict (a Workspace's, or a ControllerRevision's ``data``)."""
    text = "".join(gojson.encode(spec.get(key), go) + "\n" for key, go in SPEC_GO_TYPES.items())
    return hashlib.sha256(text.encode()).hexdigest()


def spec_hash(ws: Workspace) -> str:
    return hash_of(spec_of(ws))


def unchanged_revision(
    ws: Workspace, digest: str, revisions: Sequence[dict[str, Any]]
) -> dict[str, Any] | None:
    """The ControllerRevision the Workspace's hash annotation names, if it records the spec
    that hashes to ``digest`` now: the spec is the same and only its hash differs (written
    by a kaito that hashed differently, or an upstream hash kaito does not reproduce). Its
    revision number carries over, so the workloads -- a finished tuning Job above all --
    are not re-made for a change nobody made."""
    recorded = ws.annotations.get(c.ANNOTATION_WORKSPACE_HASH)
    if not recorded or recorded == digest:
        return None
    for rev in revisions:
        annotations = (rev.get("metadata") or {}).get("annotations") or {}
        if annotations.get(c.ANNOTATION_WORKSPACE_HASH) != recorded:
            continue
        data = rev.get("data")
        if isinstance(data, Mapping) and hash_of(data) == digest and rev.get("revision"):
            return rev
    return None


def controller_revision(
    ws: Workspace, digest: str, revision: int, owner: dict[str, Any]
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": f"{ws.name}-{digest[:5]}",
            "namespace": ws.namespace,
            "labels": {c.LABEL_WORKSPACE_NAME: ws.name},
            "annotations": {c.ANNOTATION_WORKSPACE_HASH: digest},
            "ownerReferences": [owner],
        },
        "revision": revision,
        "data": spec_of(ws),
    }
