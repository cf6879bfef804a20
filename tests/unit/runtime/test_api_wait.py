"""The API-wait account of a reconcile: unions of request intervals, per task, on the clock."""

from __future__ import annotations

import asyncio

from kaito.runtime import metrics
from kaito.runtime.api_wait import ApiWait
from kaito.runtime.clock import FakeClock
from kaito.runtime.controller import Controller
from kaito.runtime.reconcile import Request, Result


def test_overlapping_requests_count_once() -> None:
    clock = FakeClock()
    wait = ApiWait(clock)
    with wait.active():
        with ApiWait.request():
            clock.step(1.0)
            with ApiWait.request():  # a second request while the first is in flight
                clock.step(2.0)
            clock.step(0.5)
        clock.step(10.0)  # the reconcile's own work
        with ApiWait.request():
            clock.step(0.25)
    assert wait.seconds == 3.75


def test_requests_outside_a_reconcile_are_not_counted() -> None:
    clock = FakeClock()
    wait = ApiWait(clock)
    with ApiWait.request():
        clock.step(1.0)
    assert wait.seconds == 0.0


async def test_concurrent_reconciles_keep_their_own_account() -> None:
    clock = FakeClock()
    first, second = ApiWait(clock), ApiWait(clock)
    both_waiting = asyncio.Barrier(3)
    release = asyncio.Event()

    async def reconcile(wait: ApiWait) -> None:
        with wait.active(), ApiWait.request():
            await both_waiting.wait()
            await release.wait()

    tasks = [asyncio.ensure_future(reconcile(w)) for w in (first, second)]
    await both_waiting.wait()
    clock.step(4.0)
    release.set()
    await asyncio.gather(*tasks)
    assert (first.seconds, second.seconds) == (4.0, 4.0)


async def test_the_controller_reports_wall_time_minus_the_api_wait() -> None:
    clock = FakeClock()
    done = asyncio.Event()

    class Reconciler:
        async def reconcile(self, request: Request) -> Result:
            with ApiWait.request():
                clock.step(3.0)  # throttled and waiting for the API server
            clock.step(0.02)  # its own work
            done.set()
            return Result()

    controller = Controller("unit-api-wait", Reconciler(), clock=clock)  # type: ignore[arg-type]
    await controller.reconcile_handler(Request("ns", "a"))
    assert done.is_set()
    labels = {"controller": "unit-api-wait"}
    work = metrics.registry.get_sample_value("kaito_reconcile_work_seconds_sum", labels)
    wall = metrics.registry.get_sample_value(
        "controller_runtime_reconcile_time_seconds_sum", labels
    )
    assert work is not None and abs(work - 0.02) < 1e-9
    assert wall is not None and abs(wall - 3.02) < 1e-9
