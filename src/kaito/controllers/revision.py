"""Workspace revisions: the spec hash and ControllerRevisions, as upstream keeps them.

The hash is sha256 over the wire JSON of ``resource``, ``inference`` and ``tuning``
(each followed by a newline, like Go's ``json.Encoder``). A new hash means a new
ControllerRevision ``<ws>-<hash[:5]>`` with ``revision`` = latest + 1, and the
Workspace's ``workspace.kaito.io/hash`` / ``workspace.kaito.io/revision`` annotations.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kaito.api import constants as c
from kaito.api.wire import workspace_to_dict
from kaito.api.workspace import Workspace

MAX_REVISIONS = 10


def spec_of(ws: Workspace) -> dict[str, Any]:
    wire = workspace_to_dict(ws)
    return {key: wire.get(key) for key in ("resource", "inference", "tuning")}


def spec_hash(ws: Workspace) -> str:
    spec = spec_of(ws)
    text = "".join(
        json.dumps(spec[key], separators=(",", ":"), sort_keys=True) + "\n"
        for key in ("resource", "inference", "tuning")
    )
    return hashlib.sha256(text.encode()).hexdigest()


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
