"""A Workspace whose hash an older kaito wrote keeps its revision, and its tuning Job.

kaito before the upstream hash hashed sorted-key JSON, so on upgrade every Workspace's
``workspace.kaito.io/hash`` differs from what kaito computes now. The spec did not change:
the reconciler must record it under the new hash with the *same* revision number, since a
new number re-runs a tuning Job (and re-labels every workload) for a change nobody made.
Real API server, in-process reconciler, BYO kwok node so that the Job is created.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from kaito import kinds
from kaito.api import constants as c
from kaito.api.wire import workspace_from_dict
from kaito.controllers import revision
from kaito.runtime import resources as r
from tests.integration.controllers.test_bounded_nodeclaims import (  # noqa: F401  (fixture)
    Harness,
    make_harness,
)
from tests.support.kwok_nodes import gpu_node
from tests.support.waiting import async_wait_until

DATA = Path(__file__).resolve().parents[2] / "data" / "upstream-rendered"
PUSH_SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "acr-push"},
    "type": "kubernetes.io/dockerconfigjson",
    "stringData": {".dockerconfigjson": '{"auths":{"myregistry.azurecr.io":{"auth":"dTpw"}}}'},
}


def _tuning_workspace(name: str) -> dict[str, Any]:
    docs = (DATA / "06-tuning-qlora.yaml").read_text(encoding="utf-8").split("\n---\n")
    ws: dict[str, Any] = yaml.safe_load(next(d for d in docs if d.startswith("# INPUT Workspace")))
    ws["apiVersion"] = kinds.WORKSPACE.api_version
    ws["metadata"] = {"name": name, "annotations": {"kaito.sh/disable-benchmark": "true"}}
    del ws["resource"]["instanceType"]  # BYO nodes: no auto-provisioning
    ws["resource"]["labelSelector"] = {"matchLabels": {"apps": name}}
    return ws


def _old_hash(ws: dict[str, Any]) -> str:
    """What kaito hashed before: sorted-key compact JSON of the wire spec."""
    spec = revision.spec_of(workspace_from_dict(ws))
    text = "".join(
        json.dumps(spec[k], separators=(",", ":"), sort_keys=True) + "\n"
        for k in ("resource", "inference", "tuning")
    )
    return hashlib.sha256(text.encode()).hexdigest()


async def test_an_old_hash_is_replaced_without_a_new_revision_or_a_rerun(
    make_harness: Callable[..., Any],  # noqa: F811  (the fixture imported above)
) -> None:
    h: Harness = await make_harness(node_auto_provisioning=False)
    name = "upgraded"
    node = f"{h.namespace}-gpu"[:63]
    await h.client.create(r.NODE, gpu_node(node, labels={"apps": name}))
    try:
        await h.client.create(r.SECRET, PUSH_SECRET, h.namespace)
        await h.apply(_tuning_workspace(name))

        async def job() -> dict[str, Any] | None:
            await h.reconcile(name)
            return h.cache.get(r.JOB, name, h.namespace)

        first = await async_wait_until(job, timeout=60, what="the tuning Job")
        ws = await h.client.get(kinds.WORKSPACE, name, h.namespace)
        digest = ws["metadata"]["annotations"][c.ANNOTATION_WORKSPACE_HASH]
        assert ws["metadata"]["annotations"][c.ANNOTATION_WORKSPACE_REVISION] == "1"

        # What the older kaito left: its hash on the Workspace, its ControllerRevision.
        old = _old_hash(ws)
        assert old != digest
        current = await h.client.get(r.CONTROLLER_REVISION, f"{name}-{digest[:5]}", h.namespace)
        legacy = revision.controller_revision(
            workspace_from_dict(ws), old, 1, current["metadata"]["ownerReferences"][0]
        )
        legacy["data"] = current["data"]
        await h.client.create(r.CONTROLLER_REVISION, legacy, h.namespace)
        await h.client.delete(r.CONTROLLER_REVISION, f"{name}-{digest[:5]}", h.namespace)
        await h.client.patch(
            kinds.WORKSPACE,
            name,
            {"metadata": {"annotations": {c.ANNOTATION_WORKSPACE_HASH: old}}},
            h.namespace,
        )
        await h.cached(
            name,
            lambda o: bool(o and o["metadata"]["annotations"][c.ANNOTATION_WORKSPACE_HASH] == old),
        )

        async def rehashed() -> dict[str, Any] | None:
            await h.reconcile(name)
            got = await h.client.get(kinds.WORKSPACE, name, h.namespace)
            annotations = got["metadata"]["annotations"]
            return got if annotations[c.ANNOTATION_WORKSPACE_HASH] == digest else None

        after = await async_wait_until(rehashed, timeout=30, what="the new hash written")
        assert after["metadata"]["annotations"][c.ANNOTATION_WORKSPACE_REVISION] == "1"
        await h.reconcile(name)

        revisions = await h.client.list(
            r.CONTROLLER_REVISION, h.namespace, label_selector=f"{c.LABEL_WORKSPACE_NAME}={name}"
        )
        by_hash = {
            x["metadata"]["annotations"][c.ANNOTATION_WORKSPACE_HASH]: x["revision"]
            for x in revisions.items
        }
        assert by_hash == {old: 1, digest: 1}

        job_now = await h.client.get(r.JOB, name, h.namespace)
        assert job_now["metadata"]["uid"] == first["metadata"]["uid"]
        assert not job_now["metadata"].get("deletionTimestamp")
        events = await h.client.list(r.EVENT, h.namespace)
        reasons = {e.get("reason") for e in events.items}
        assert not reasons & {"JobRecreating", "RevisionUpdated"}, reasons
    finally:
        await h.client.delete(r.NODE, node)
