"""Events off the reconcile path, against the real apiserver: ``event()`` queues and returns,
a writer with its own client coalesces and writes, shutdown flushes, the spam filter holds
back, and ``kaito manager``'s wiring gives Events a client of their own.

The Event client talks through a :class:`Proxy` (its own ``host`` label in
``rest_client_requests_total``), so the requests of the reconcile client (direct) and of the
Event client are counted apart."""

from __future__ import annotations

import argparse
import asyncio
import uuid
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

import pytest

import kaito
from kaito.cli.common import add_manager_flags, build_event_recorder, build_manager
from kaito.runtime import metrics
from kaito.runtime.client import Client, ClientConfig
from kaito.runtime.clock import FakeClock
from kaito.runtime.events import NORMAL, WARNING, EventRecorder
from kaito.runtime.manager import Manager
from kaito.runtime.resources import EVENT, ResourceType
from kaito.testenv import ControlPlane
from tests.support.waiting import eventually

from .conftest import Proxy


def requests_to(host: str) -> float:
    """Every request counted for ``host``, whatever its method and code."""
    total = 0.0
    for family in metrics.registry.collect():
        for s in family.samples:
            if s.name == "rest_client_requests_total" and s.labels.get("host") == host:
                total += s.value
    return total


def sample(name: str, component: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, {"component": component, **labels})
    return value or 0.0


def finishes_without_waiting(coro: Coroutine[Any, Any, None]) -> bool:
    """Whether ``coro`` runs to its end in one step, never suspending on anything."""
    try:
        coro.send(None)
    except StopIteration:
        return True
    coro.close()
    return False


async def idle() -> None:
    """A leader-only runnable: ``Manager`` cannot lead with nothing to run (no controller)."""
    await asyncio.Event().wait()


def component() -> str:
    return f"kaito-events-test-{uuid.uuid4().hex[:6]}"


@pytest.fixture
async def events_client(proxied_kubeconfig: tuple[Path, Proxy]) -> AsyncIterator[Client]:
    """A second client, as ``kaito manager`` builds for Events: qps 5, burst 25."""
    path, _ = proxied_kubeconfig
    async with await Client.from_kubeconfig(
        path, config=ClientConfig(qps=5, burst=25, timeout=60)
    ) as c:
        yield c


async def gizmo(client: Client, crd: ResourceType, namespace: str, name: str) -> dict[str, Any]:
    return await client.create(crd, {"metadata": {"name": name, "namespace": namespace}})


async def test_fifty_identical_events_are_one_event_with_count_50_and_no_reconcile_requests(
    client: Client, events_client: Client, namespace: str, gizmo_crd: ResourceType
) -> None:
    name = component()
    obj = await gizmo(client, gizmo_crd, namespace, "flappy")
    recorder = EventRecorder(events_client, name)
    manager = Manager(client, metrics_address=None, health_address=None)
    manager.add_runnable(recorder.run)
    manager.add_runnable(idle, needs_leader=True)
    task = asyncio.ensure_future(manager.run(handle_signals=False))
    await asyncio.wait_for(manager.elected.wait(), 30)
    await eventually(lambda: recorder.running)

    reconcile_before, events_before = requests_to(client.host), requests_to(events_client.host)
    for _ in range(50):
        assert finishes_without_waiting(recorder.event(obj, WARNING, "Flapping", "again"))
    assert recorder.pending == 50
    assert requests_to(client.host) == reconcile_before  # event() sent nothing, anywhere
    assert requests_to(events_client.host) == events_before

    await eventually(lambda: recorder.pending == 0, what="the writer drained the buffer")
    manager.stop()
    await asyncio.wait_for(task, 30)
    assert requests_to(client.host) == reconcile_before  # no Event went by the reconcile client
    assert requests_to(events_client.host) == events_before + 1  # 50 events, one POST
    assert sample("kaito_events_written_total", name) == 1
    assert sample("kaito_events_patched_total", name) == 0

    listed = (await client.list(EVENT, namespace)).items
    assert [(e["reason"], e["message"], e["count"]) for e in listed] == [("Flapping", "again", 50)]
    event = listed[0]
    assert event["involvedObject"]["name"] == "flappy"
    assert event["involvedObject"]["uid"] == obj["metadata"]["uid"]
    assert event["source"]["component"] == name and event["type"] == WARNING
    assert event["lastTimestamp"] >= event["firstTimestamp"]


async def test_event_does_not_wait_for_a_hung_api_and_repeats_fold_into_one_patch(
    client: Client,
    events_client: Client,
    proxied_kubeconfig: tuple[Path, Proxy],
    namespace: str,
    gizmo_crd: ResourceType,
) -> None:
    _, proxy = proxied_kubeconfig
    name = component()
    obj = await gizmo(client, gizmo_crd, namespace, "stuck")
    recorder = EventRecorder(events_client, name, flush_timeout=1.0)
    writer = asyncio.ensure_future(recorder.run())
    await eventually(lambda: recorder.running)

    proxy.freeze()  # the apiserver stops answering the Event client
    assert finishes_without_waiting(recorder.event(obj, WARNING, "Stuck", "same"))
    await eventually(lambda: recorder.queued == 0, what="the writer took it (its POST hangs)")
    for _ in range(49):
        assert finishes_without_waiting(recorder.event(obj, WARNING, "Stuck", "same"))
    assert recorder.queued == 1 and recorder.pending == 50

    proxy.thaw()
    await eventually(lambda: recorder.pending == 0, what="the POST, then one PATCH")
    assert sample("kaito_events_written_total", name) == 1
    assert sample("kaito_events_patched_total", name) == 1
    listed = (await client.list(EVENT, namespace)).items
    assert [(e["message"], e["count"]) for e in listed] == [("same", 50)]

    # shutdown while the API hangs: the flush gives up after flush_timeout and counts the loss
    proxy.freeze()
    assert finishes_without_waiting(recorder.event(obj, NORMAL, "Late", "never written"))
    await eventually(lambda: recorder.queued == 0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    writer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(writer, 10)
    shutdown = loop.time() - started
    assert 0.9 <= shutdown < 5, shutdown
    assert sample("kaito_events_dropped_total", name, reason="shutdown") == 1


async def test_shutdown_flushes_what_is_still_queued(
    client: Client, events_client: Client, namespace: str, gizmo_crd: ResourceType
) -> None:
    name = component()
    objs = [await gizmo(client, gizmo_crd, namespace, f"g{i}") for i in range(3)]
    recorder = EventRecorder(events_client, name)
    writer = asyncio.ensure_future(recorder.run())
    await eventually(lambda: recorder.running)
    for obj in objs:
        for _ in range(4):
            await recorder.event(obj, NORMAL, "Created", "made it")
    writer.cancel()  # at once: the writer has not run since; everything is still queued
    assert recorder.pending == 12
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(writer, 30)
    assert recorder.pending == 0
    assert sample("kaito_events_written_total", name) == 3
    assert sample("kaito_events_dropped_total", name, reason="shutdown") == 0
    listed = (await client.list(EVENT, namespace)).items
    got = sorted((e["involvedObject"]["name"], e["count"]) for e in listed)
    assert got == [("g0", 4), ("g1", 4), ("g2", 4)]


async def test_spam_filter_holds_back_writes_beyond_25_per_object(
    client: Client, namespace: str, gizmo_crd: ResourceType
) -> None:
    clock = FakeClock()
    name = component()
    noisy, quiet = [await gizmo(client, gizmo_crd, namespace, n) for n in ("noisy", "quiet")]
    recorder = EventRecorder(client, name, clock=clock)  # never run: writes inline
    for i in range(30):
        await recorder.event(noisy, WARNING, f"Reason{i}", "distinct reasons, distinct Events")
    await recorder.event(quiet, WARNING, "Reason0", "another object, another bucket")
    assert sample("kaito_events_written_total", name) == 26
    assert sample("kaito_events_dropped_total", name, reason="spam_filtered") == 5

    async def counts() -> dict[str, int]:
        listed = (await client.list(EVENT, namespace)).items
        return {e["reason"]: e["count"] for e in listed if e["involvedObject"]["name"] == "noisy"}

    assert sorted(await counts()) == sorted(f"Reason{i}" for i in range(25))
    clock.step(300)  # one token back
    await recorder.event(noisy, WARNING, "Reason29", "distinct reasons, distinct Events")
    await recorder.event(noisy, WARNING, "Reason28", "distinct reasons, distinct Events")
    got = await counts()
    assert got["Reason29"] == 2  # the held-back occurrence counts too
    assert "Reason28" not in got
    assert sample("kaito_events_dropped_total", name, reason="spam_filtered") == 6


async def test_manager_wiring_gives_events_their_own_client_and_budget(
    control_plane: ControlPlane, namespace: str, gizmo_crd: ResourceType
) -> None:
    parser = argparse.ArgumentParser()
    add_manager_flags(parser, lease_name="events-test")
    args = parser.parse_args(
        [
            f"--kubeconfig={control_plane.kubeconfig}",
            "--metrics-bind-address=0",
            "--health-probe-bind-address=0",
        ]
    )
    args.sync_period = 3600.0
    manager = await build_manager(args, "kaito-test")
    name = component()
    recorder = await build_event_recorder(args, manager, name)
    manager.add_runnable(idle, needs_leader=True)
    assert recorder.client is not manager.client
    assert (recorder.client.config.qps, recorder.client.config.burst) == (5.0, 25)
    assert (manager.client.config.qps, manager.client.config.burst) == (30.0, 50)
    assert manager.client.config.user_agent == f"kaito-test/{kaito.__version__}"
    assert recorder.client.config.user_agent == f"{name}-events/{kaito.__version__}"
    try:
        obj = await gizmo(manager.client, gizmo_crd, namespace, "wired")
        task = asyncio.ensure_future(manager.run(handle_signals=False))
        await eventually(lambda: recorder.running)
        await recorder.event(obj, NORMAL, "Wired", "through kaito manager's set-up")
        manager.stop()
        await asyncio.wait_for(task, 30)
        listed = (await manager.client.list(EVENT, namespace)).items
        assert [(e["reason"], e["count"]) for e in listed] == [("Wired", 1)]
        assert not recorder.running
    finally:
        await manager.client.close()
