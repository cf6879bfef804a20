"""Controller result handling with a fake clock: backoff, requeue_after, terminal errors."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable

import pytest

from kaito.runtime import metrics
from kaito.runtime.clock import FakeClock
from kaito.runtime.controller import Controller
from kaito.runtime.ratelimit import ItemExponentialFailureRateLimiter
from kaito.runtime.reconcile import Request, Result, TerminalError, owner_mapper
from kaito.runtime.resources import DEPLOYMENT, ResourceType

_names = itertools.count()


class Script:
    """A reconciler that plays back outcomes per call, records the calls, and lets a test wait
    for the n-th one to have been handled.

    The worker handles a reconcile's outcome (requeue, forget, metrics) without suspending
    after the reconciler returns, and the test's wake-up runs only once the worker suspends:
    so a test woken by :meth:`handled` sees the outcome handled.
    """

    def __init__(self, *outcomes: Result | BaseException) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[Request] = []
        self._returned = asyncio.Condition()
        self._count = 0

    async def reconcile(self, request: Request) -> Result:
        self.calls.append(request)
        outcome = self.outcomes.pop(0) if self.outcomes else Result()
        async with self._returned:
            self._count += 1
            self._returned.notify_all()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def handled(self, n: int) -> None:
        """Wait until the n-th call has returned and the controller has handled its outcome."""

        async def wait() -> None:
            async with self._returned:
                await self._returned.wait_for(lambda: self._count >= n)

        await asyncio.wait_for(wait(), 5)


def total(name: str, result: str) -> float:
    value = metrics.registry.get_sample_value(
        "controller_runtime_reconcile_total", {"controller": name, "result": result}
    )
    return value or 0.0


@pytest.fixture
async def running() -> AsyncIterator[Callable[..., tuple[Controller, FakeClock]]]:
    started: list[tuple[Controller, asyncio.Task[None]]] = []

    def start(reconciler: object, **kwargs: object) -> tuple[Controller, FakeClock]:
        clock = FakeClock()
        controller = Controller(
            f"unit-{next(_names)}",
            reconciler,  # type: ignore[arg-type]
            rate_limiter=ItemExponentialFailureRateLimiter(0.005, 1000.0),
            clock=clock,
            **kwargs,  # type: ignore[arg-type]
        )
        started.append((controller, asyncio.ensure_future(controller.run())))
        return controller, clock

    yield start
    for controller, task in started:
        controller.stop()
        await controller.wait_stopped(1)
        await asyncio.wait_for(task, 1)


async def test_errors_back_off_exponentially_then_success_forgets(running) -> None:
    script = Script(RuntimeError("a"), RuntimeError("b"), RuntimeError("c"), Result())
    controller, clock = running(script)
    request = Request("ns", "obj")
    controller.queue.add(request)
    await script.handled(1)
    for n, delay in enumerate([0.005, 0.010, 0.020], start=2):
        assert controller.queue.waiting == 1 and clock.waiters == 1  # the retry is parked
        clock.step(delay * 0.99)
        assert controller.queue.waiting == 1, f"retry {n} came before its {delay}s backoff"
        clock.step(delay * 0.01 + 1e-9)
        assert controller.queue.waiting == 0
        await script.handled(n)
    assert len(script.calls) == 4
    assert controller.queue.num_requeues(request) == 0  # forgotten after success
    assert controller.queue.waiting == 0 and clock.waiters == 0
    assert total(controller.name, "error") == 3
    assert total(controller.name, "success") == 1
    errors = metrics.registry.get_sample_value(
        "controller_runtime_reconcile_errors_total", {"controller": controller.name}
    )
    assert errors == 3


async def test_requeue_after_is_honoured_and_forgets(running) -> None:
    script = Script(RuntimeError("x"), Result(requeue_after=30.0), Result())
    controller, clock = running(script)
    request = Request("ns", "polled")
    controller.queue.add(request)
    await script.handled(1)
    clock.step(0.005)
    await script.handled(2)
    assert controller.queue.num_requeues(request) == 0  # requeue_after forgets the failures
    assert controller.queue.waiting == 1
    clock.step(29.9)
    assert controller.queue.waiting == 1, "requeued before its 30 s"
    clock.step(0.1 + 1e-6)
    await script.handled(3)
    assert len(script.calls) == 3
    assert total(controller.name, "requeue_after") == 1


async def test_success_drops_a_requeue_timer_left_by_an_earlier_pass(running) -> None:
    """Steady state means no work: the 30 s timer of pass 1 never fires after pass 2 said
    there is nothing more to do; a later add still reconciles at once."""
    script = Script(Result(requeue_after=30.0), Result(), Result())
    controller, clock = running(script)
    request = Request("ns", "settled")
    controller.queue.add(request)
    await script.handled(1)
    assert controller.queue.waiting == 1 and clock.waiters == 1
    controller.queue.add(request)  # a watch event before the timer
    await script.handled(2)
    assert controller.queue.waiting == 0
    assert clock.waiters == 0, "the 30 s timer is still set"
    clock.step(60.0)
    assert len(controller.queue) == 0, "a leftover timer queued a settled key"
    controller.queue.add(request)
    await script.handled(3)
    assert len(script.calls) == 3


async def test_requeue_uses_the_rate_limiter(running) -> None:
    script = Script(Result(requeue=True), Result(requeue=True), Result())
    controller, clock = running(script)
    controller.queue.add(Request("", "cluster-scoped"))
    await script.handled(1)
    clock.step(0.005 * 0.99)
    assert controller.queue.waiting == 1, "requeued before the limiter's 5 ms"
    clock.step(0.005 * 0.01 + 1e-9)
    await script.handled(2)
    clock.step(0.010 * 0.99)
    assert controller.queue.waiting == 1, "requeued before the limiter's 10 ms"
    clock.step(0.010 * 0.01 + 1e-9)
    await script.handled(3)
    assert len(script.calls) == 3
    assert total(controller.name, "requeue") == 2


async def test_terminal_error_is_not_retried(running) -> None:
    script = Script(TerminalError("bad spec"))
    controller, clock = running(script)
    controller.queue.add(Request("ns", "t"))
    await script.handled(1)
    assert clock.waiters == 0, "a retry was scheduled"
    clock.step(10_000)
    assert len(script.calls) == 1
    assert controller.queue.waiting == 0 and len(controller.queue) == 0
    terminal = metrics.registry.get_sample_value(
        "controller_runtime_terminal_reconcile_errors_total", {"controller": controller.name}
    )
    assert terminal == 1
    assert total(controller.name, "error") == 1


async def test_an_exception_does_not_stop_the_worker(running) -> None:
    script = Script(KeyError("oops"), ZeroDivisionError(), Result(), Result())
    controller, _ = running(script)
    for name in ("a", "b", "c", "d"):
        controller.queue.add(Request("ns", name))
    await script.handled(4)
    assert [r.name for r in script.calls] == ["a", "b", "c", "d"]  # one worker did them all


async def test_one_key_never_runs_twice_at_once(running) -> None:
    active: set[str] = set()
    overlaps = peak = calls = 0
    added: dict[str, int] = {}  # key -> index of its latest add
    seen: dict[str, int] = {}  # key -> latest add index a reconcile started after
    progress = asyncio.Condition()

    async def reconcile(request: Request) -> Result:
        nonlocal overlaps, peak, calls
        calls += 1
        if request.name in active:
            overlaps += 1
        active.add(request.name)
        peak = max(peak, len(active))
        seen[request.name] = added[request.name]
        for _ in range(3):
            await asyncio.sleep(0)  # let the other workers (and the adds) run meanwhile
        active.discard(request.name)
        async with progress:
            progress.notify_all()
        return Result()

    controller, _ = running(reconcile, max_concurrent_reconciles=4)
    for i in range(200):
        key = f"k{i % 3}"
        added[key] = i
        controller.queue.add(Request("ns", key))
        if i % 7 == 0:
            await asyncio.sleep(0)  # adds arrive in bursts, some while keys are in progress

    async def caught_up() -> None:  # every key reconciled after its latest add, none running
        async with progress:
            await progress.wait_for(lambda: seen == added and not active)

    await asyncio.wait_for(caught_up(), 5)
    assert overlaps == 0
    assert peak >= 2, "the workers never ran side by side: the test proves nothing"
    assert 3 <= calls < 200  # adds to a queued key were merged


async def test_reconcile_timeout_counts_and_requeues(running) -> None:
    """The deadline is on the controller's clock: only stepping it times the reconcile out."""

    async def slow(request: Request) -> Result:
        await asyncio.Event().wait()
        return Result()

    controller, clock = running(slow, reconcile_timeout=10.0)
    controller.queue.add(Request("ns", "slow"))
    await asyncio.wait_for(clock.wait_for_waiters(1), 1)  # the reconcile's deadline
    clock.step(9.9)
    assert controller.queue.processing == 1 and controller.queue.waiting == 0
    clock.step(0.1)
    await asyncio.wait_for(clock.wait_for_waiters(1), 1)  # the rate-limited retry
    timeouts = metrics.registry.get_sample_value(
        "controller_runtime_reconcile_timeouts_total", {"controller": controller.name}
    )
    assert timeouts == 1
    assert controller.queue.waiting == 1 and controller.queue.processing == 0


def test_owner_mapper_finds_the_controlling_owner_of_the_right_kind() -> None:
    workspace = ResourceType("kaito.sh", "v1beta1", "Workspace", "workspaces")
    obj = {
        "metadata": {
            "namespace": "ns",
            "name": "dep",
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "controller": False},
                {
                    "apiVersion": "kaito.sh/v1alpha1",
                    "kind": "Workspace",
                    "name": "ws",
                    "controller": True,
                },
            ],
        }
    }
    assert owner_mapper(workspace)(obj) == [Request("ns", "ws")]
    assert owner_mapper(DEPLOYMENT)(obj) == []
    assert owner_mapper(workspace, owner_namespaced=False)(obj) == [Request("", "ws")]


def test_metrics_series_exist_at_zero_before_any_reconcile() -> None:
    controller = Controller(f"unit-{next(_names)}", Script(), max_concurrent_reconciles=3)
    for result in ("success", "error", "requeue", "requeue_after"):
        assert total(controller.name, result) == 0
    assert (
        metrics.registry.get_sample_value(
            "controller_runtime_max_concurrent_reconciles", {"controller": controller.name}
        )
        == 3
    )
    assert Request("ns", "a").key == "ns/a" and Request("", "n").key == "n"
