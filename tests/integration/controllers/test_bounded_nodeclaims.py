"""The Workspace reconciler's writes are bounded, pass by pass, against a real API server.

The reconciler runs in-process with its real client and informer cache, without the
webhook and without a provisioner (NodeClaims stay unlaunched), and each test calls
``reconcile`` itself so that "one pass" is exact: a pass creates at most one batch of
NodeClaims, stops at the cluster-wide limit, creates nothing once the Workspace is being
deleted and then removes its claims with one label-selected delete, and refuses without
the webhook what the webhook refuses (with ``InvalidSpec``, never a retry loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import pytest

from kaito import kinds
from kaito.api import constants as c
from kaito.api.wire import workspace_from_dict
from kaito.controllers.cache_options import BY_OBJECT
from kaito.controllers.claim_creation import BATCH, REASON_LIMIT, create_missing
from kaito.controllers.settings import Settings
from kaito.controllers.workspace import WorkspaceReconciler
from kaito.presets import default_catalog
from kaito.runtime import metrics
from kaito.runtime import resources as r
from kaito.runtime.cache import InformerCache
from kaito.runtime.client import Client, ClientConfig
from kaito.runtime.events import EventRecorder
from kaito.runtime.expectations import Expectations
from kaito.runtime.reconcile import Request
from kaito.testenv import ControlPlane
from tests.e2e.conftest import install_crds
from tests.e2e.helpers import sample
from tests.support.waiting import async_wait_until

WATCHED = (
    kinds.WORKSPACE,
    kinds.NODECLAIM,
    r.NODE,
    r.POD,
    r.SERVICE,
    r.CONFIG_MAP,
    r.DEPLOYMENT,
    r.STATEFUL_SET,
    r.JOB,
    r.CONTROLLER_REVISION,
)


@attrs.define
class Harness:
    client: Client
    cache: InformerCache
    reconciler: WorkspaceReconciler
    namespace: str

    async def apply(self, ws: dict[str, Any]) -> None:
        ws["metadata"]["namespace"] = self.namespace
        await self.client.create(kinds.WORKSPACE, ws, self.namespace)
        await self.cached(ws["metadata"]["name"], lambda obj: obj is not None)

    async def cached(self, name: str, ready: Callable[[dict[str, Any] | None], bool]) -> None:
        await async_wait_until(
            lambda: _true(ready(self.cache.get(kinds.WORKSPACE, name, self.namespace))),
            timeout=30,
            what=f"the cache's view of {name}",
        )

    async def reconcile(self, name: str) -> None:
        await self.reconciler.reconcile(Request(self.namespace, name))

    async def claims(self, name: str) -> list[dict[str, Any]]:
        selector = f"{c.LABEL_WORKSPACE}={name},{c.LABEL_WORKSPACE_NAMESPACE}={self.namespace}"
        return (await self.client.list(kinds.NODECLAIM, label_selector=selector)).items

    async def claims_cached(self, name: str, count: int) -> None:
        def probe() -> bool:
            return (
                sum(
                    1
                    for x in self.cache.list(kinds.NODECLAIM)
                    if (x["metadata"].get("labels") or {}).get(c.LABEL_WORKSPACE) == name
                )
                == count
            )

        await async_wait_until(
            lambda: _true(probe()), timeout=30, what=f"{count} NodeClaims of {name} cached"
        )

    async def condition(self, name: str, kind: str) -> dict[str, Any]:
        obj = await self.client.get(kinds.WORKSPACE, name, self.namespace)
        for cond in (obj.get("status") or {}).get("conditions") or []:
            if cond["type"] == kind:
                return dict(cond)
        raise AssertionError(f"{name} has no {kind} condition: {obj.get('status')}")


async def _true(value: bool) -> bool:
    return value


def _workspace(name: str, count: int, instance_type: str = "Standard_NC6s_v3") -> dict[str, Any]:
    ws = sample("workspace-phi-3-mini.yaml")
    ws["apiVersion"] = kinds.WORKSPACE.api_version  # the client speaks the storage version
    ws["metadata"] = {"name": name}
    ws["resource"]["count"] = count
    ws["resource"]["instanceType"] = instance_type
    return ws


@pytest.fixture
async def make_harness(
    control_plane: ControlPlane, namespace: str
) -> AsyncIterator[Callable[..., Any]]:
    install_crds(control_plane)
    made: list[tuple[Client, InformerCache]] = []

    async def make(**settings: Any) -> Harness:
        client = await Client.from_kubeconfig(control_plane.kubeconfig, config=ClientConfig(qps=0))
        cache = InformerCache(client, by_object=BY_OBJECT)
        for rt in WATCHED:
            cache.informer(rt)
        reconciler = WorkspaceReconciler(
            client,
            cache,
            # kaito's contract: resource.count decides the node count (under upstream's, a
            # vLLM preset gets the estimate from its weights, 1 node for phi-3)
            settings=Settings(**{"runtime_contract": "kaito", "status_hold": 0.0, **settings}),
            catalog=default_catalog(),
            recorder=EventRecorder(client, component="kaito-workspace-test"),
        )
        cache.start()
        await cache.wait_for_sync(60)
        made.append((client, cache))
        return Harness(client, cache, reconciler, namespace)

    yield make
    for client, cache in made:
        await cache.stop()
        await client.close()
    # No provisioner runs: NodeClaims carry no finalizer and go with the namespace's Workspaces.
    control_plane.kubectl("delete", "nodeclaims", "--all", "--wait=false", check=False)


async def test_one_pass_creates_one_batch_and_the_cluster_limit_holds(
    make_harness: Callable[..., Any],
) -> None:
    h: Harness = await make_harness(max_nodeclaims=15)
    await h.apply(_workspace("wide", 20))
    await h.reconcile("wide")
    assert len(await h.claims("wide")) == BATCH
    await h.claims_cached("wide", BATCH)

    await h.reconcile("wide")
    assert len(await h.claims("wide")) == 15
    await h.claims_cached("wide", 15)
    await h.reconcile("wide")
    assert len(await h.claims("wide")) == 15
    blocked = await h.condition("wide", c.CONDITION_RESOURCE_READY)
    assert blocked["status"] == "False"
    assert blocked["reason"] == REASON_LIMIT
    assert "--max-nodeclaims" in blocked["message"], blocked


async def test_deleting_mid_provisioning_stops_creation_and_deletes_claims_in_bulk(
    make_harness: Callable[..., Any],
) -> None:
    h: Harness = await make_harness()
    await h.apply(_workspace("doomed", 25))
    await h.reconcile("doomed")  # adds the finalizer, creates the first batch
    assert len(await h.claims("doomed")) == BATCH
    await h.claims_cached("doomed", BATCH)

    await h.client.delete(kinds.WORKSPACE, "doomed", h.namespace)
    await h.cached("doomed", lambda o: bool(o and o["metadata"].get("deletionTimestamp")))
    await h.reconcile("doomed")
    assert await h.claims("doomed") == []  # none created, all ten gone in one DELETE
    events = await h.client.list(r.EVENT, h.namespace)
    deleted = [e for e in events.items if e.get("reason") == "NodeClaimDeleted"]
    assert len(deleted) == 1, deleted
    assert deleted[0]["message"].startswith(f"Deleting {BATCH} NodeClaim(s): ")

    await h.claims_cached("doomed", 0)
    await h.reconcile("doomed")  # no claims left: the finalizer goes
    await asyncio.wait_for(_gone(h, "doomed"), 30)


async def _gone(h: Harness, name: str) -> None:
    await h.cached(name, lambda obj: obj is None)


async def test_a_change_the_webhook_would_refuse_is_refused_by_the_controller(
    make_harness: Callable[..., Any],
) -> None:
    h: Harness = await make_harness()
    await h.apply(_workspace("steady", 1))
    await h.reconcile("steady")
    before = await h.claims("steady")
    assert len(before) == 1
    await h.cached(
        "steady",
        lambda o: bool(
            o and c.ANNOTATION_WORKSPACE_HASH in (o["metadata"].get("annotations") or {})
        ),
    )

    await h.client.patch(
        kinds.WORKSPACE, "steady", {"resource": {"instanceType": "Standard_NC12s_v3"}}, h.namespace
    )
    await h.cached(
        "steady", lambda o: bool(o and o["resource"]["instanceType"] == "Standard_NC12s_v3")
    )
    await h.reconcile("steady")
    refused = await h.condition("steady", c.CONDITION_WORKSPACE_SUCCEEDED)
    assert refused["reason"] == c.REASON_INVALID_SPEC
    assert "cannot be applied to a running Workspace" in refused["message"]
    assert "resource.instanceType" in refused["message"], refused
    after = await h.claims("steady")
    assert [x["metadata"]["name"] for x in after] == [x["metadata"]["name"] for x in before]
    assert after[0]["spec"] == before[0]["spec"]  # nothing made for the new instance type


async def test_an_invalid_label_value_is_invalid_spec_not_a_retry_loop(
    make_harness: Callable[..., Any],
) -> None:
    h: Harness = await make_harness()
    ws = _workspace("snowman", 1)
    ws["resource"]["labelSelector"] = {"matchLabels": {"apps": "not valid \u2603"}}
    await h.apply(ws)
    await h.reconcile("snowman")
    refused = await h.condition("snowman", c.CONDITION_WORKSPACE_SUCCEEDED)
    assert refused["status"] == "False"
    assert refused["reason"] == c.REASON_INVALID_SPEC
    assert await h.claims("snowman") == []


@pytest.mark.parametrize("annotations", [{}, {c.ANNOTATION_BYPASS_RESOURCE_CHECKS: "True"}])
async def test_a_huge_count_without_the_webhook_is_invalid_spec_and_creates_nothing(
    make_harness: Callable[..., Any], annotations: dict[str, str]
) -> None:
    h: Harness = await make_harness(max_nodes_per_workspace=8)
    ws = _workspace("greedy", 500)  # the CRD itself refuses past 1000
    ws["metadata"]["annotations"] = annotations
    await h.apply(ws)
    await h.reconcile("greedy")
    refused = await h.condition("greedy", c.CONDITION_WORKSPACE_SUCCEEDED)
    assert refused["reason"] == c.REASON_INVALID_SPEC
    assert "--max-nodes-per-workspace" in refused["message"], refused
    assert await h.claims("greedy") == []


async def test_toggling_inference_to_tuning_without_the_webhook_is_refused(
    make_harness: Callable[..., Any],
) -> None:
    h: Harness = await make_harness()
    await h.apply(_workspace("toggled", 1))
    await h.reconcile("toggled")
    await h.cached(
        "toggled",
        lambda o: bool(
            o and c.ANNOTATION_WORKSPACE_HASH in (o["metadata"].get("annotations") or {})
        ),
    )
    tuning = sample("workspace-tuning-phi-3-mini.yaml")["tuning"]
    await h.client.patch(
        kinds.WORKSPACE, "toggled", {"inference": None, "tuning": tuning}, h.namespace
    )
    await h.cached("toggled", lambda o: bool(o and o.get("tuning")))
    await h.reconcile("toggled")
    refused = await h.condition("toggled", c.CONDITION_WORKSPACE_SUCCEEDED)
    assert refused["reason"] == c.REASON_INVALID_SPEC
    assert "cannot be toggled" in refused["message"], refused
    jobs = await h.client.list(r.JOB, h.namespace)
    assert jobs.items == []  # no tuning Job next to the running inference workload


async def test_a_pass_on_a_stale_cache_does_not_create_the_claims_again(
    make_harness: Callable[..., Any],
) -> None:
    """The claims of the first pass are not in the ``claims`` a second pass is handed (its
    cache has not seen their watch events yet): the second pass sends no create at all."""
    h: Harness = await make_harness()
    await h.apply(_workspace("stale", 3))
    ws = workspace_from_dict(await h.client.get(kinds.WORKSPACE, "stale", h.namespace))
    preset = default_catalog().inference_preset("phi-3-mini-4k-instruct")
    settings = Settings(runtime_contract="kaito", status_hold=0.0)
    expected = Expectations()

    async def creates(claims: list[dict[str, Any]]) -> float:
        before = _posts(h.client)
        await create_missing(
            ws,
            claims,
            3,
            preset,
            None,
            client=h.client,
            cache=h.cache,
            settings=settings,
            expected=expected,
        )
        return _posts(h.client) - before

    assert await creates([]) == 3
    assert len(expected) == 3
    assert await creates([]) == 0  # the stale view is not believed: no 409 AlreadyExists
    assert len(await h.claims("stale")) == 3
    await h.claims_cached("stale", 3)
    assert await creates(await h.claims("stale")) == 0
    assert len(expected) == 0  # seen: nothing is expected any more


def _posts(client: Client) -> float:
    """POSTs sent to this client's API server (``rest_client_requests_total``)."""
    return sum(
        sample.value
        for metric in metrics.rest_client_requests.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
        and sample.labels["method"] == "POST"
        and sample.labels["host"] == client.transport.host
    )
