"""Work queue: client-go semantics (dedup, dirty/processing, delays, rate limits, shutdown)."""

from __future__ import annotations

import asyncio
import random

import pytest

from kaito.runtime.clock import FakeClock
from kaito.runtime.ratelimit import ItemExponentialFailureRateLimiter
from kaito.runtime.workqueue import QueueMetrics, QueueShutDown, WorkQueue


async def get_now(queue: WorkQueue[str]) -> str:
    return await asyncio.wait_for(queue.get(), 1)


async def test_dedup_keeps_fifo_order() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for item in ["a", "b", "a", "c", "b", "a"]:
        queue.add(item)
    assert len(queue) == 3
    assert [await get_now(queue) for _ in range(3)] == ["a", "b", "c"]
    assert len(queue) == 0


async def test_add_during_processing_is_parked_until_done() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    item = await get_now(queue)
    queue.add("a")
    queue.add("a")
    assert len(queue) == 0  # parked in dirty, not handed to a second worker
    second = asyncio.ensure_future(queue.get())
    queue.add("b")  # barrier: the blocked getter gets b, so a was not handed out
    assert await asyncio.wait_for(second, 1) == "b"
    queue.done("b")
    queue.done(item)  # now a goes back to the queue, once
    assert len(queue) == 1
    assert await get_now(queue) == "a"
    queue.done("a")
    assert len(queue) == 0 and queue.processing == 0


async def test_never_two_workers_on_one_key() -> None:
    queue: WorkQueue[int] = WorkQueue()
    active: set[int] = set()
    overlaps = 0
    processed = 0

    async def worker() -> None:
        nonlocal overlaps, processed
        while True:
            try:
                key = await queue.get()
            except QueueShutDown:
                return
            if key in active:
                overlaps += 1
            active.add(key)
            await asyncio.sleep(0)
            if random.random() < 0.3:
                queue.add(key)  # re-added while processing
            await asyncio.sleep(0)
            active.discard(key)
            processed += 1
            queue.done(key)

    workers = [asyncio.ensure_future(worker()) for _ in range(8)]
    for i in range(2000):
        queue.add(i % 10)
        if i % 50 == 0:
            await asyncio.sleep(0)
    while len(queue) or queue.processing:
        await asyncio.sleep(0.001)
    queue.shut_down()
    await asyncio.wait_for(asyncio.gather(*workers), 5)
    assert overlaps == 0
    assert processed >= 10


async def test_add_after_keeps_earliest_and_orders_by_time() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add_after("late", 5.0)
    queue.add_after("early", 1.0)
    queue.add_after("late", 10.0)  # later time is ignored
    queue.add_after("mid", 3.0)
    queue.add_after("mid", 2.0)  # earlier time wins
    assert queue.waiting == 3 and len(queue) == 0
    clock.step(0.999)
    assert len(queue) == 0
    clock.step(0.001)
    assert len(queue) == 1
    clock.step(10)
    assert [await get_now(queue) for _ in range(3)] == ["early", "mid", "late"]
    assert queue.waiting == 0


async def test_add_after_nonpositive_adds_now_and_dedups_with_queue() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add("a")
    queue.add_after("a", 0)
    queue.add_after("a", -1)
    assert len(queue) == 1
    queue.add_after("a", 1)
    clock.step(1)
    assert len(queue) == 1  # still one: the delayed add deduplicates with the queued one


async def test_get_wakes_when_delay_expires() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    getter = asyncio.ensure_future(queue.get())
    queue.add_after("x", 2)
    queue.add("now")
    # barrier: the blocked getter is handed the item that is due, not the delayed one
    assert await asyncio.wait_for(getter, 1) == "now"
    assert len(queue) == 0 and queue.waiting == 1
    later = asyncio.ensure_future(queue.get())
    clock.step(2)
    assert await asyncio.wait_for(later, 1) == "x"


async def test_rate_limited_delays_grow_and_forget_resets() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(
        clock=clock, rate_limiter=ItemExponentialFailureRateLimiter(0.005, 1000.0)
    )
    expected = [0.005, 0.01, 0.02, 0.04]
    for delay in expected:
        queue.add_rate_limited("k")
        clock.step(delay - 0.0001)
        assert len(queue) == 0, delay
        clock.step(0.0001)
        assert await get_now(queue) == "k"
        queue.done("k")
    assert queue.num_requeues("k") == 4
    queue.forget("k")
    assert queue.num_requeues("k") == 0
    queue.add_rate_limited("k")
    clock.step(0.005)
    assert len(queue) == 1


async def test_shutdown_drains_queued_items_then_raises() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    queue.add("b")
    queue.shut_down()
    queue.add("c")  # ignored
    assert await get_now(queue) == "a"
    assert await get_now(queue) == "b"
    with pytest.raises(QueueShutDown):
        await get_now(queue)


async def test_shutdown_wakes_blocked_getters_and_drops_delayed() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    getters = [asyncio.ensure_future(queue.get()) for _ in range(3)]
    queue.add_after("later", 1)
    await asyncio.sleep(0)
    queue.shut_down()
    results = await asyncio.gather(*getters, return_exceptions=True)
    assert all(isinstance(r, QueueShutDown) for r in results)
    clock.step(5)
    assert len(queue) == 0 and queue.waiting == 0


async def test_shut_down_with_drain_waits_for_done() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    item = await get_now(queue)
    drained = asyncio.ensure_future(queue.shut_down_with_drain())
    late = asyncio.ensure_future(queue.get())  # scheduled after drained's first step
    with pytest.raises(QueueShutDown):  # barrier: the shutdown has happened
        await asyncio.wait_for(late, 1)
    assert not drained.done()  # ... and the drain still waits for a
    queue.done(item)
    await asyncio.wait_for(drained, 1)


async def test_cancelled_getter_passes_its_wakeup_on() -> None:
    queue: WorkQueue[str] = WorkQueue()
    first = asyncio.ensure_future(queue.get())
    second = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue.add("a")  # wakes `first`
    first.cancel()
    assert await asyncio.wait_for(second, 1) == "a"


class _Count:
    def __init__(self) -> None:
        self.value = 0.0
        self.observed: list[float] = []

    def inc(self, amount: float = 1) -> None:
        self.value += amount

    def dec(self, amount: float = 1) -> None:
        self.value -= amount

    def observe(self, amount: float) -> None:
        self.observed.append(amount)


async def test_metrics_follow_client_go() -> None:
    clock = FakeClock()
    depth, adds, latency, work, retries = _Count(), _Count(), _Count(), _Count(), _Count()
    queue: WorkQueue[str] = WorkQueue(
        clock=clock, metrics=QueueMetrics(depth, adds, latency, work, retries)
    )
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert (depth.value, adds.value) == (2, 2)
    clock.step(3)
    item = await get_now(queue)
    assert latency.observed == [3]
    assert depth.value == 1
    clock.step(2)
    assert queue.unfinished_work_seconds() == 2
    assert queue.longest_running_processor_seconds() == 2
    queue.done(item)
    assert work.observed == [2]
    queue.add_after("c", 1)
    queue.add_rate_limited("d")
    assert retries.value == 2
