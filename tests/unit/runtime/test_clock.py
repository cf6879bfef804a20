"""FakeClock's barrier and clock_timeout: deadlines that a fake clock controls."""

from __future__ import annotations

import asyncio

import pytest

from kaito.runtime.clock import REAL_CLOCK, FakeClock, clock_timeout


async def test_clock_timeout_cancels_the_body_when_the_fake_clock_passes_the_deadline() -> None:
    clock = FakeClock()
    never = asyncio.Event()

    async def body() -> None:
        async with clock_timeout(clock, 5.0):
            await never.wait()

    task = asyncio.ensure_future(body())
    await asyncio.wait_for(clock.wait_for_waiters(1), 1)
    clock.step(4.9)
    assert clock.waiters == 1 and not task.done()
    clock.step(0.1)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(task, 1)


async def test_clock_timeout_leaves_no_timer_behind_and_none_means_no_deadline() -> None:
    clock = FakeClock()
    async with clock_timeout(clock, 5.0):
        assert clock.waiters == 1
    assert clock.waiters == 0
    async with clock_timeout(clock, None):
        assert clock.waiters == 0
    async with clock_timeout(REAL_CLOCK, 5.0):
        pass


async def test_wait_for_waiters_returns_once_enough_timers_are_pending() -> None:
    clock = FakeClock()
    order: list[str] = []

    async def barrier() -> None:
        await clock.wait_for_waiters(2)
        order.append("barrier")

    waiting = asyncio.ensure_future(barrier())
    await asyncio.sleep(0)  # the barrier task starts and waits (no timer yet)
    clock.call_later(1.0, lambda: None)
    # Had the barrier been released, its wake-up would be queued before ours: it would have
    # run by the time this sleep(0) returns.
    await asyncio.sleep(0)
    assert order == []
    clock.call_later(2.0, lambda: order.append("timer"))
    await asyncio.wait_for(waiting, 1)
    assert order == ["barrier"]
    clock.step(2.0)
    assert order == ["barrier", "timer"]
    clock.call_later(1.0, lambda: None).cancel()
    assert clock.waiters == 0  # a cancelled timer is not pending
    await asyncio.wait_for(clock.wait_for_waiters(0), 1)  # already true: returns at once
