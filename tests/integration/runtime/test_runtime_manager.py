"""Manager + controllers on the real apiserver: for_/owns/watches, /metrics, probes, graceful
stop with the lease released."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from kaito.runtime.cache import InformerCache
from kaito.runtime.client import Client
from kaito.runtime.controller import Controller
from kaito.runtime.leader import LeaderElectionConfig
from kaito.runtime.manager import Manager
from kaito.runtime.owner import set_controller_reference
from kaito.runtime.predicates import GENERATION_CHANGED
from kaito.runtime.reconcile import Request, Result
from kaito.runtime.resources import CONFIG_MAP, LEASE, SECRET, ResourceType
from tests.support.waiting import eventually

NAMES = [
    "controller_runtime_reconcile_total",
    "controller_runtime_reconcile_errors_total",
    "controller_runtime_reconcile_time_seconds",
    "controller_runtime_max_concurrent_reconciles",
    "controller_runtime_active_workers",
    "workqueue_depth",
    "workqueue_adds_total",
    "workqueue_queue_duration_seconds",
    "workqueue_work_duration_seconds",
    "workqueue_retries_total",
    "workqueue_longest_running_processor_seconds",
    "workqueue_unfinished_work_seconds",
    "rest_client_requests_total",
    "leader_election_master_status",
]


class Recorder:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.fail_once: set[str] = set()
        self.slow = asyncio.Event()
        self.in_flight = 0
        self.finished_slow = False

    async def reconcile(self, request: Request) -> Result:
        self.requests.append(request)
        if request.name in self.fail_once:
            self.fail_once.discard(request.name)
            raise RuntimeError("transient")
        if request.name == "slow":
            self.in_flight += 1
            self.slow.set()
            await asyncio.sleep(1.0)
            self.finished_slow = True
            self.in_flight -= 1
        return Result()


@contextlib.asynccontextmanager
async def run(manager: Manager) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.ensure_future(manager.run(handle_signals=False))
    try:
        await asyncio.wait_for(manager.elected.wait(), 30)
        yield task
    finally:
        manager.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 30)


async def test_manager_runs_controllers_and_serves_metrics(
    client: Client, namespace: str, gizmo_crd: ResourceType
) -> None:
    name = f"gizmo-{uuid.uuid4().hex[:6]}"
    recorder = Recorder()
    secrets_seen: list[str] = []

    def secret_to_gizmo(obj: dict[str, Any]) -> list[Request]:
        secrets_seen.append(obj["metadata"]["name"])
        target = (obj["metadata"].get("labels") or {}).get("gizmo")
        return [Request(obj["metadata"]["namespace"], target)] if target else []

    manager = Manager(
        client,
        leader_election=LeaderElectionConfig(
            name=f"{name}-lease",
            namespace=namespace,
            lease_duration=4,
            renew_deadline=3,
            retry_period=0.5,
        ),
        metrics_address="127.0.0.1:0",
        health_address="127.0.0.1:0",
        graceful_shutdown_timeout=10,
    )
    controller = manager.add(
        Controller(name, recorder, max_concurrent_reconciles=2)
        .for_(gizmo_crd, namespace=namespace, predicates=[GENERATION_CHANGED])
        .owns(CONFIG_MAP, namespace=namespace)
        .watches(SECRET, secret_to_gizmo, namespace=namespace)
    )
    async with run(manager):
        owner = await client.create(
            gizmo_crd, {"metadata": {"name": "g1", "namespace": namespace}, "spec": {"v": 1}}
        )
        await eventually(lambda: Request(namespace, "g1") in recorder.requests)

        # owns: a ConfigMap controlled by g1 enqueues g1
        count = recorder.requests.count(Request(namespace, "g1"))
        owned: dict[str, Any] = {"metadata": {"name": "owned", "namespace": namespace}, "data": {}}
        set_controller_reference(owner, owned)
        await client.create(CONFIG_MAP, owned)
        await eventually(lambda: recorder.requests.count(Request(namespace, "g1")) > count)

        # predicates: a status-only write (no generation bump) does not enqueue. Barrier: a
        # new object after it; the informer delivers in order, so once that one has been
        # reconciled, a reconcile caused by the status write would have been recorded first
        count = recorder.requests.count(Request(namespace, "g1"))
        await client.patch(
            gizmo_crd, "g1", {"status": {"seen": True}}, namespace, subresource="status"
        )
        await client.create(gizmo_crd, {"metadata": {"name": "barrier", "namespace": namespace}})
        await eventually(lambda: Request(namespace, "barrier") in recorder.requests)
        assert recorder.requests.count(Request(namespace, "g1")) == count

        # watches with a mapper
        await client.create(
            SECRET,
            {"metadata": {"name": "s", "namespace": namespace, "labels": {"gizmo": "mapped"}}},
        )
        await eventually(lambda: Request(namespace, "mapped") in recorder.requests)
        assert "s" in secrets_seen

        # an error is retried
        recorder.fail_once.add("flaky")
        await client.create(gizmo_crd, {"metadata": {"name": "flaky", "namespace": namespace}})
        await eventually(lambda: recorder.requests.count(Request(namespace, "flaky")) >= 2)

        port = manager.endpoint_port("/metrics")
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert response.status == 200
                text = await response.text()
            health = manager.endpoint_port("/healthz")
            for probe in ("/healthz", "/readyz"):
                async with session.get(f"http://127.0.0.1:{health}{probe}") as response:
                    assert (response.status, await response.text()) == (200, "ok")
            async with session.get(f"http://127.0.0.1:{health}/readyz?verbose") as response:
                assert "[+]informers ok" in await response.text()

    for metric in NAMES:
        assert re.search(rf"^{metric}(_bucket|_count|_sum)?[{{ ]", text, re.M), (
            f"{metric} missing from /metrics"
        )
    assert "_created" not in text

    def value(pattern: str) -> float:
        match = re.search(pattern, text, re.M)
        assert match, pattern
        return float(match.group(1))

    label = f'controller="{name}"'
    assert value(rf'^controller_runtime_reconcile_total{{{label},result="success"}} (\S+)') >= 3
    assert value(rf'^controller_runtime_reconcile_total{{{label},result="error"}} (\S+)') == 1
    assert value(rf"^controller_runtime_reconcile_errors_total{{{label}}} (\S+)") == 1
    assert value(rf"^controller_runtime_max_concurrent_reconciles{{{label}}} (\S+)") == 2
    assert (
        value(rf'^controller_runtime_reconcile_time_seconds_bucket{{{label},le="0.005"}} (\S+)')
        >= 0
    )
    assert (
        value(rf'^controller_runtime_reconcile_time_seconds_bucket{{{label},le="60.0"}} (\S+)') >= 3
    )
    queue = f'controller="{name}",name="{name}"'
    assert value(rf"^workqueue_adds_total{{{queue}}} (\S+)") >= 4
    assert value(rf"^workqueue_retries_total{{{queue}}} (\S+)") >= 1
    bucket = f'controller="{name}",le="1e-08",name="{name}"'
    assert value(rf"^workqueue_queue_duration_seconds_bucket{{{bucket}}} (\S+)") >= 0
    assert value(rf"^workqueue_work_duration_seconds_count{{{queue}}} (\S+)") >= 4
    assert value(rf'^leader_election_master_status{{name="{name}-lease"}} (\S+)') == 1
    assert value(r'^rest_client_requests_total{code="200",host="[^"]+",method="GET"} (\S+)') > 0
    assert controller.queue.shutting_down
    # graceful stop released the lease
    lease = await client.get(LEASE, f"{name}-lease", namespace)
    assert not lease["spec"].get("holderIdentity")
    assert lease["spec"]["leaseDurationSeconds"] == 1


async def test_graceful_stop_finishes_in_flight_reconciles(client: Client, namespace: str) -> None:
    recorder = Recorder()
    manager = Manager(
        client, metrics_address=None, health_address=None, graceful_shutdown_timeout=10
    )
    manager.add(
        Controller(f"graceful-{uuid.uuid4().hex[:6]}", recorder).for_(
            CONFIG_MAP, namespace=namespace
        )
    )
    async with run(manager) as task:
        await client.create(CONFIG_MAP, {"metadata": {"name": "slow", "namespace": namespace}})
        await asyncio.wait_for(recorder.slow.wait(), 30)
        manager.stop()
        await asyncio.wait_for(task, 15)
        assert recorder.finished_slow and recorder.in_flight == 0
        # work arriving after the stop is not taken. Barrier: a live informer of the same
        # kind has seen the late object, so a manager still watching would have seen it too
        before = len(recorder.requests)
        await client.create(CONFIG_MAP, {"metadata": {"name": "late", "namespace": namespace}})
        witness = InformerCache(client)
        informer = witness.informer(CONFIG_MAP, namespace=namespace)
        witness.start()
        try:
            await eventually(lambda: informer.store.get_object(namespace, "late") is not None)
        finally:
            await witness.stop()
        assert len(recorder.requests) == before


async def test_cache_sync_timeout_fails_clearly(client: Client, namespace: str) -> None:
    missing = ResourceType("nothing.kaito.sh", "v1", "Nothing", "nothings")
    manager = Manager(client, metrics_address=None, health_address=None)
    controller = Controller(f"unsynced-{uuid.uuid4().hex[:6]}", Recorder(), cache_sync_timeout=1.5)
    manager.add(controller.for_(missing, namespace=namespace))
    with pytest.raises(Exception, match=r"timed out after 1\.5s waiting for the Nothing cache"):
        await asyncio.wait_for(manager.run(handle_signals=False), 30)


async def test_a_manager_with_only_unelected_runnables_runs_them_until_stopped(
    client: Client,
) -> None:
    """No controllers and no leader-only runnables (e.g. only a webhook): it still leads and
    runs until stopped, instead of failing on an empty task set."""
    manager = Manager(client, metrics_address=None, health_address=None)
    started = asyncio.Event()

    async def serve() -> None:
        started.set()
        await asyncio.Event().wait()

    manager.add_runnable(serve)
    running = asyncio.ensure_future(manager.run(handle_signals=False))
    await asyncio.wait_for(started.wait(), 30)
    await asyncio.wait_for(manager.elected.wait(), 30)
    assert not running.done()
    manager.stop()
    await asyncio.wait_for(running, 30)


async def test_a_stopping_manager_hands_over_at_once_and_serves_for_the_shutdown_delay(
    client: Client, namespace: str
) -> None:
    """What a deleted webhook replica does: the Lease is released first (the standby leads
    at once), the unelected runnables (the webhook) keep serving for ``shutdown_delay`` while
    ``/readyz`` says the replica is going, and only then stop."""
    loop = asyncio.get_running_loop()
    lease = f"delay-{uuid.uuid4().hex[:6]}"
    manager = Manager(
        client,
        leader_election=LeaderElectionConfig(
            name=lease, namespace=namespace, lease_duration=4, renew_deadline=3, retry_period=0.5
        ),
        metrics_address=None,
        health_address="127.0.0.1:0",
        shutdown_delay=2.0,
    )
    serving_ended: list[float] = []

    async def serve() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            serving_ended.append(loop.time())

    manager.add_runnable(serve)
    running = asyncio.ensure_future(manager.run(handle_signals=False))
    await asyncio.wait_for(manager.elected.wait(), 30)
    health = manager.endpoint_port("/readyz")
    stopped = loop.time()
    manager.stop()

    async def holder() -> str:
        return str((await client.get(LEASE, lease, namespace))["spec"].get("holderIdentity") or "")

    deadline = loop.time() + 10
    while await holder():
        assert loop.time() < deadline, "the Lease was not released"
        await asyncio.sleep(0.05)
    released = loop.time() - stopped
    assert serving_ended == [], "the runnable stopped before the Lease was released"
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{health}/readyz?verbose") as response,
    ):
        assert response.status != 200
        assert "not-stopping" in await response.text()
    await asyncio.wait_for(running, 30)
    assert released < 1.0
    assert serving_ended[0] - stopped >= 2.0 - 0.05
