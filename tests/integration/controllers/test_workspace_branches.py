"""Each branch of the Workspace reconcile, one test each, against the real API server.

The reconciler runs in-process inside a real Manager (informers, work queue, workers, the
Event writer), wired as ``kaito manager`` wires it, without the webhook and without a
provisioner; Nodes are plain API objects kwok keeps Ready. Every test reads the outcome
from the API server (status, annotations, Events, the objects made or not made), never
from the reconciler, so the tests hold across refactors that keep the behaviour:

* ``invalid_spec``: a Workspace the CRD admits but kaito's validation refuses;
* ``byo_nodes``: existing Nodes match, so no NodeClaim is made;
* ``revision_change``: a changed inference spec is a new revision, and a new workload;
* ``tuning_problem``: a tuning Workspace whose input is missing says so;
* ``finalize_with_nodeclaims_left``: the finalizer waits for the last NodeClaim;
* ``cache_not_synced``: a reconcile on caches that have not synced raises and writes nothing
  (called directly: inside a Manager the workers wait for the caches).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from kaito import kinds
from kaito.api import constants as c
from kaito.contracts import tuning_configmaps
from kaito.controllers.cache_options import BY_OBJECT
from kaito.controllers.setup import workspace_controller
from kaito.runtime import resources as r
from kaito.runtime.cache import InformerCache
from kaito.runtime.errors import NotFound
from kaito.runtime.events import EventRecorder
from kaito.runtime.informer import CacheNotSynced
from kaito.runtime.reconcile import Request
from tests.integration.controllers.conftest import (
    NC6,
    Cluster,
    template_workspace,
    workspace_reconciler,
)
from tests.support.waiting import async_wait_until, condition

A100 = "Standard_NC24ads_A100_v4"
PRESET = "phi-3-mini-4k-instruct"


def _inference(name: str, selector: str, *, count: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "resource": {
            "count": count,
            "instanceType": NC6,
            "labelSelector": {"matchLabels": {"apps": selector}},
        },
        "inference": {"preset": {"name": PRESET}},
    }


def _tuning(name: str, selector: str, config: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "annotations": {"kaito.sh/disable-benchmark": "true"}},
        "resource": {"instanceType": A100, "labelSelector": {"matchLabels": {"apps": selector}}},
        "tuning": {
            "preset": {"name": PRESET},
            "method": "qlora",
            "config": config,
            "input": {"urls": ["https://huggingface.co/datasets/example/resolve/main/d.parquet"]},
            "output": {
                "image": "myregistry.azurecr.io/phi3-tuned:0.0.1",
                "imagePushSecret": "acr-push",
            },
        },
    }


def _node_labels(selector: str, instance_type: str) -> dict[str, str]:
    return {"apps": selector, c.LABEL_INSTANCE_TYPE: instance_type}


async def _until(what: str, probe: Callable[[], Awaitable[Any]], timeout: float = 30) -> Any:
    return await async_wait_until(probe, timeout=timeout, interval=0.1, what=what)


async def _condition_is(
    cluster: Cluster, name: str, kind: str, status: str, reason: str | None = None
) -> dict[str, Any]:
    """Wait until the Workspace's ``kind`` condition has this status (and reason)."""

    async def probe() -> dict[str, Any] | None:
        cond = condition(await cluster.workspace(name), kind)
        if cond and cond["status"] == status and reason in (None, cond["reason"]):
            return cond
        return None

    found: dict[str, Any] = await _until(f"{name} {kind}={status} {reason or ''}", probe)
    return found


async def _event(cluster: Cluster, name: str, reason: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        found = await cluster.events(name, reason)
        return found[0] if found else None

    event: dict[str, Any] = await _until(f"a {reason} Event about {name}", probe)
    return event


async def _workload(cluster: Cluster, name: str) -> dict[str, Any] | None:
    for rt in (r.DEPLOYMENT, r.STATEFUL_SET):
        found = await cluster.client.list(rt, cluster.namespace)
        for obj in found.items:
            if obj["metadata"]["name"] == name:
                return obj
    return None


async def _service(cluster: Cluster, name: str) -> dict[str, Any] | None:
    try:
        return await cluster.client.get(r.SERVICE, name, cluster.namespace)
    except NotFound:
        return None


async def _revisions(cluster: Cluster, name: str) -> list[dict[str, Any]]:
    found = await cluster.client.list(
        r.CONTROLLER_REVISION,
        cluster.namespace,
        label_selector=f"{c.LABEL_WORKSPACE_NAME}={name}",
    )
    return sorted(found.items, key=lambda x: int(x["revision"]))


# -- invalid spec -------------------------------------------------------------------------------
async def test_invalid_spec_is_workspace_ready_false_with_a_warning_event(
    cluster: Cluster,
) -> None:
    """No webhook: the CRD admits a Workspace without ``instanceType``, which kaito refuses
    while auto-provisioning is on. The controller says so and makes nothing for it."""
    ws = _inference("no-instance", "no-instance")
    del ws["resource"]["instanceType"]
    async with cluster.controller():
        await cluster.create_workspace(ws)
        ready = await _condition_is(
            cluster, "no-instance", c.CONDITION_WORKSPACE_READY, "False", c.REASON_INVALID_SPEC
        )
        assert "instanceType is required" in ready["message"], ready
        succeeded = condition(
            await cluster.workspace("no-instance"), c.CONDITION_WORKSPACE_SUCCEEDED
        )
        assert succeeded is not None, "WorkspaceSucceeded (the twin of WorkspaceReady) missing"
        assert (succeeded["status"], succeeded["reason"]) == ("False", c.REASON_INVALID_SPEC)

        event = await _event(cluster, "no-instance", c.REASON_INVALID_SPEC)
        assert event["type"] == "Warning", event
        assert "instanceType is required" in event["message"], event

        assert await cluster.nodeclaims("no-instance") == []
        assert await _workload(cluster, "no-instance") is None
        assert await _revisions(cluster, "no-instance") == []


# -- BYO nodes ----------------------------------------------------------------------------------
async def test_byo_nodes_are_used_and_no_nodeclaim_is_created(cluster: Cluster) -> None:
    """Three Ready GPU Nodes carry the labelSelector's labels and the instance type; a
    Workspace of two that prefers the last of them runs on it and the first, with
    auto-provisioning on and no NodeClaim made."""
    selector = f"byo-{cluster.namespace}"[:63]
    nodes = await cluster.ready_nodes(3, _node_labels(selector, NC6))
    ws = _inference("byo", selector, count=2)
    ws["resource"]["preferredNodes"] = [nodes[2]]
    async with cluster.controller(node_auto_provisioning=True):
        await cluster.create_workspace(ws)
        resource = await _condition_is(
            cluster, "byo", c.CONDITION_RESOURCE_READY, "True", c.REASON_RESOURCE_SUCCESS
        )
        got = await cluster.workspace("byo")
        assert got is not None
        assert got["status"]["workerNodes"] == sorted([nodes[0], nodes[2]]), (got, resource)
        assert await cluster.nodeclaims("byo") == []
        for name in (nodes[0], nodes[2]):  # GPU nodes kaito runs on get accelerator=nvidia
            node = await cluster.client.get(r.NODE, name)
            assert node["metadata"]["labels"].get(c.LABEL_ACCELERATOR) == "nvidia", node

        workload = await _until("the workload", lambda: _workload(cluster, "byo"))
        assert workload["metadata"]["annotations"][c.ANNOTATION_WORKSPACE_REVISION] == "1"
        assert await cluster.nodeclaims("byo") == []


async def test_objects_changed_by_hand_are_put_back_though_passes_skip_rendering(
    cluster: Cluster,
) -> None:
    """A pass renders only when something it depends on has a new resourceVersion: a Service
    deleted by hand and a workload whose template was edited are each put back."""
    selector = f"drift-{cluster.namespace}"[:63]
    await cluster.ready_nodes(1, _node_labels(selector, NC6))
    async with cluster.controller(node_auto_provisioning=True):
        await cluster.create_workspace(_inference("drift", selector, count=1))
        workload = await _until("the workload", lambda: _workload(cluster, "drift"))
        service = await _until("the Service", lambda: _service(cluster, "drift"))

        await cluster.client.delete(r.SERVICE, "drift", cluster.namespace)

        async def recreated() -> dict[str, Any] | None:
            got = await _service(cluster, "drift")
            uid = (got or {}).get("metadata", {}).get("uid")
            return got if uid and uid != service["metadata"]["uid"] else None

        await _until("the Service put back", recreated)

        rt = r.DEPLOYMENT if workload["kind"] == "Deployment" else r.STATEFUL_SET
        containers = workload["spec"]["template"]["spec"]["containers"]
        image = containers[0]["image"]
        patch = {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {"name": containers[0]["name"], "image": "example.invalid/edited:1"}
                        ]
                    }
                }
            }
        }
        await cluster.client.patch(rt, "drift", patch, cluster.namespace)

        async def restored() -> bool:
            got = await cluster.client.get(rt, "drift", cluster.namespace)
            return bool(got["spec"]["template"]["spec"]["containers"][0]["image"] == image)

        await _until("the workload's image put back", restored)


# -- revision change ------------------------------------------------------------------------------
async def test_revision_change_makes_a_new_controller_revision_and_workload_template(
    cluster: Cluster,
) -> None:
    """Changing the inference template's image is a new spec: a second ControllerRevision,
    the revision annotation moves to 2, and the workload's pod template runs the new image."""
    selector = f"rev-{cluster.namespace}"[:63]
    await cluster.ready_nodes(1, _node_labels(selector, NC6))
    async with cluster.controller():
        created = await cluster.create_workspace(
            template_workspace("rev", selector, "example.com/llm:1")
        )

        async def first() -> dict[str, Any] | None:
            workload = await _workload(cluster, "rev")
            return workload if workload and _image(workload) == "example.com/llm:1" else None

        before = await _until("the first workload", first)
        ws = await cluster.workspace("rev")
        assert ws is not None
        assert ws["metadata"]["annotations"][c.ANNOTATION_WORKSPACE_REVISION] == "1"
        old_hash = ws["metadata"]["annotations"][c.ANNOTATION_WORKSPACE_HASH]
        assert [x["revision"] for x in await _revisions(cluster, "rev")] == [1]
        assert before["metadata"]["annotations"][c.ANNOTATION_WORKSPACE_REVISION] == "1"

        template = copy.deepcopy(created["inference"]["template"])
        template["spec"]["containers"][0]["image"] = "example.com/llm:2"
        await cluster.client.patch(
            kinds.WORKSPACE, "rev", {"inference": {"template": template}}, cluster.namespace
        )

        async def second() -> dict[str, Any] | None:
            workload = await _workload(cluster, "rev")
            return workload if workload and _image(workload) == "example.com/llm:2" else None

        after = await _until("the workload of revision 2", second)
        assert after["metadata"]["annotations"][c.ANNOTATION_WORKSPACE_REVISION] == "2"
        assert after["metadata"]["uid"] == before["metadata"]["uid"]  # updated, not re-made
        assert after["metadata"]["generation"] > before["metadata"]["generation"]

        ws = await cluster.workspace("rev")
        assert ws is not None
        annotations = ws["metadata"]["annotations"]
        assert annotations[c.ANNOTATION_WORKSPACE_REVISION] == "2"
        assert annotations[c.ANNOTATION_WORKSPACE_HASH] != old_hash
        revisions = await _revisions(cluster, "rev")
        assert [x["revision"] for x in revisions] == [1, 2]
        newest = revisions[-1]["metadata"]
        assert (
            newest["annotations"][c.ANNOTATION_WORKSPACE_HASH]
            == annotations[c.ANNOTATION_WORKSPACE_HASH]
        )
        assert newest["ownerReferences"][0]["uid"] == ws["metadata"]["uid"]
        event = await _event(cluster, "rev", "RevisionUpdated")
        assert "revision 2" in event["message"], event


def _image(workload: dict[str, Any]) -> str:
    return str(workload["spec"]["template"]["spec"]["containers"][0]["image"])


# -- tuning problem -------------------------------------------------------------------------------
async def test_tuning_problem_missing_configmap_is_reported_in_status(cluster: Cluster) -> None:
    """A tuning Workspace names a ConfigMap that does not exist: once its node is there the
    controller says which ConfigMap is missing (InvalidSpec, a Warning Event) and makes no
    Job, instead of failing the reconcile or retrying without a word."""
    selector = f"tune-{cluster.namespace}"[:63]
    await cluster.ready_nodes(1, _node_labels(selector, A100))
    async with cluster.controller() as manager:
        await cluster.create_workspace(_tuning("tune", selector, "missing-params"))
        ready = await _condition_is(
            cluster, "tune", c.CONDITION_WORKSPACE_READY, "False", c.REASON_INVALID_SPEC
        )
        expected = (
            f"ConfigMap 'missing-params' specified in 'config' not found in namespace "
            f"'{cluster.namespace}'"
        )
        assert ready["message"] == expected, ready
        event = await _event(cluster, "tune", c.REASON_INVALID_SPEC)
        assert (event["type"], event["message"]) == ("Warning", expected), event
        jobs = await cluster.client.list(r.JOB, cluster.namespace)
        assert jobs.items == []
        assert manager.cache.has_synced  # the manager still runs

        # The ConfigMap appears: the watch on ConfigMaps a Workspace names wakes it now,
        # not at the next resync (nothing else requeues an InvalidSpec Workspace).
        default = tuning_configmaps.configmap("qlora")  # the method _tuning() asks for
        await cluster.client.create(
            r.CONFIG_MAP,
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "missing-params", "namespace": cluster.namespace},
                "data": default["data"],
            },
            cluster.namespace,
        )

        async def job() -> list[dict[str, Any]] | None:
            return (await cluster.client.list(r.JOB, cluster.namespace)).items or None

        (made,) = await _until("the tuning Job, once its ConfigMap exists", job, timeout=20)
        assert made["metadata"]["name"] == "tune"


# -- finalize with NodeClaims left ----------------------------------------------------------------
async def test_finalize_with_nodeclaims_left_keeps_the_finalizer_until_they_are_gone(
    cluster: Cluster,
) -> None:
    """A deleted Workspace deletes its NodeClaims and keeps its finalizer while any still
    exists (a provisioner's finalizer holds them: here the test's own); when the last one
    goes, so does the Workspace."""
    hold = "test.kaito.sh/hold"
    async with cluster.controller(node_auto_provisioning=True):
        await cluster.create_workspace(_inference("doomed", f"doomed-{cluster.namespace}", count=2))

        async def two_claims() -> list[dict[str, Any]] | None:
            claims = await cluster.nodeclaims("doomed")
            return claims if len(claims) == 2 else None

        claims = await _until("two NodeClaims", two_claims)
        names = sorted(x["metadata"]["name"] for x in claims)
        for name in names:  # what a provisioner would have put there
            await cluster.client.patch(kinds.NODECLAIM, name, {"metadata": {"finalizers": [hold]}})

        await cluster.client.delete(kinds.WORKSPACE, "doomed", cluster.namespace)
        deleting = await _condition_is(
            cluster, "doomed", c.CONDITION_WORKSPACE_DELETING, "True", c.REASON_WORKSPACE_DELETED
        )
        assert "2 NodeClaim(s)" in deleting["message"], deleting
        claims = await cluster.nodeclaims("doomed")
        assert sorted(x["metadata"]["name"] for x in claims) == names
        assert all(x["metadata"].get("deletionTimestamp") for x in claims), claims
        event = await _event(cluster, "doomed", "NodeClaimDeleted")
        assert event["message"].startswith("Deleting 2 NodeClaim(s)"), event

        # One claim goes: a pass sees the other one still there, and the finalizer stays.
        await cluster.client.patch(kinds.NODECLAIM, names[0], {"metadata": {"finalizers": None}})

        async def one_left() -> dict[str, Any] | None:
            ws = await cluster.workspace("doomed")
            assert ws is not None, f"the Workspace went while NodeClaim {names[1]} remains"
            cond = condition(ws, c.CONDITION_WORKSPACE_DELETING)
            return ws if cond and "1 NodeClaim(s)" in cond["message"] else None

        ws = await _until("WorkspaceDeleting waiting for 1 NodeClaim", one_left)
        assert c.WORKSPACE_FINALIZER in ws["metadata"]["finalizers"], ws
        assert [x["metadata"]["name"] for x in await cluster.nodeclaims("doomed")] == [names[1]]

        await cluster.client.patch(kinds.NODECLAIM, names[1], {"metadata": {"finalizers": None}})

        async def gone() -> bool:
            return await cluster.workspace("doomed") is None

        await _until("the Workspace gone", gone)
        assert await cluster.nodeclaims("doomed") == []


# -- cache not synced -----------------------------------------------------------------------------
SYNCED_FIRST = (
    kinds.WORKSPACE,
    r.CONTROLLER_REVISION,
    r.CONFIG_MAP,
    r.SERVICE,
    r.DEPLOYMENT,
    r.STATEFUL_SET,
    r.JOB,
)
"""What the partly synced cache has: everything but NodeClaims, Nodes and pods."""


@pytest.mark.parametrize("synced", ["nothing", "all-but-nodeclaims-nodes-pods"])
async def test_cache_not_synced_raises_and_writes_nothing(cluster: Cluster, synced: str) -> None:
    """A reconcile that meets a cache which has not finished its first list raises
    CacheNotSynced (the controller retries it with backoff) and writes nothing: an empty
    NodeClaim cache is not taken for "no NodeClaims" (no second claim, no status saying
    0 are provisioning). Once those caches sync, the same reconcile goes through.

    A Manager never gets here (its controller starts its workers only once every informer
    it watches has synced), so the Manager brings the Workspace to a steady state and is
    stopped, and a reconciler built as the Manager's is called on a cache of which only
    some informers ran (``nothing``: none)."""
    async with cluster.controller(node_auto_provisioning=True):
        await cluster.create_workspace(_inference("steady", f"steady-{cluster.namespace}"))
        await _condition_is(
            cluster, "steady", c.CONDITION_RESOURCE_READY, "False", c.REASON_NODECLAIM_NOT_READY
        )

        async def settled() -> dict[str, Any] | None:
            ws = await cluster.workspace("steady")
            cond = condition(ws, c.CONDITION_RESOURCE_READY)
            claims = await cluster.nodeclaims("steady")
            return ws if cond and "1 NodeClaim(s)" in cond["message"] and claims else None

        await _until("one NodeClaim provisioning", settled)
    # The manager is stopped: nothing else writes the Workspace from here on.
    before = await cluster.workspace("steady")
    assert before is not None
    claims_before = _claim_ids(await cluster.nodeclaims("steady"))
    assert len(claims_before) == 1
    revisions_before = _ids(await _revisions(cluster, "steady"))

    cache = InformerCache(cluster.client, by_object=BY_OBJECT)
    first = SYNCED_FIRST if synced != "nothing" else ()
    for rt in first:
        cache.informer(rt)
    running: dict[int, asyncio.Future[None]] = {}

    def run_informers() -> None:
        """Run the cache's informers that do not run yet (the cache itself is never started:
        informers added after this stay unsynced)."""
        for informer in cache.informers:
            if id(informer) not in running:
                running[id(informer)] = asyncio.ensure_future(informer.run())

    run_informers()
    try:
        for informer in cache.informers:
            await informer.wait_for_sync(30)
        recorder = EventRecorder(cluster.client, component="kaito-workspace-unsynced")
        reconciler = workspace_reconciler(
            cluster.client,
            cache,
            settings=cluster.settings(node_auto_provisioning=True),
            recorder=recorder,
        )
        with pytest.raises(CacheNotSynced):
            await reconciler.reconcile(Request(cluster.namespace, "steady"))

        after = await cluster.workspace("steady")
        assert after is not None
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"], (
            before,
            after,
        )
        assert _claim_ids(await cluster.nodeclaims("steady")) == claims_before
        assert _ids(await _revisions(cluster, "steady")) == revisions_before
        events = (await cluster.client.list(r.EVENT, cluster.namespace)).items
        assert [
            e for e in events if (e.get("source") or {}).get("component") == recorder.component
        ] == []

        # Every cache the controller watches syncs: the same reconcile now goes through
        # (and, the world being as it was, still writes nothing new).
        workspace_controller(reconciler).bind(cache)
        run_informers()
        await cache.wait_for_sync(30)
        await reconciler.reconcile(Request(cluster.namespace, "steady"))
        again = await cluster.workspace("steady")
        assert again is not None
        assert _claim_ids(await cluster.nodeclaims("steady")) == claims_before
        assert condition(again, c.CONDITION_RESOURCE_READY) == condition(
            before, c.CONDITION_RESOURCE_READY
        )
    finally:
        for task in running.values():
            task.cancel()
        await asyncio.gather(*running.values(), return_exceptions=True)


def _claim_ids(claims: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return sorted(
        (x["metadata"]["name"], x["metadata"]["uid"], x["metadata"]["resourceVersion"])
        for x in claims
    )


def _ids(objects: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((x["metadata"]["name"], x["metadata"]["resourceVersion"]) for x in objects)
