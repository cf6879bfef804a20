"""Backoff on a fake clock: doubling to the cap, jitter, reset after a healthy spell, sleep."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from kaito.runtime.backoff import Backoff
from kaito.runtime.clock import FakeClock


def test_delays_grow_by_the_factor_up_to_the_cap() -> None:
    backoff = Backoff(1.0, 8.0, clock=FakeClock())
    assert [backoff.next() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    tripling = Backoff(0.5, 10.0, factor=3.0, clock=FakeClock())
    assert [tripling.next() for _ in range(4)] == [0.5, 1.5, 4.5, 10.0]


def test_jitter_adds_up_to_jitter_times_the_delay() -> None:
    draws: Iterator[float] = iter([0.0, 0.5, 1.0])
    backoff = Backoff(2.0, 100.0, jitter=0.5, clock=FakeClock(), rand=lambda: next(draws))
    assert [backoff.next() for _ in range(3)] == [2.0, 4.0 + 1.0, 8.0 + 4.0]


def test_reset_after_is_measured_on_the_clock_since_the_last_delay() -> None:
    clock = FakeClock()
    backoff = Backoff(1.0, 60.0, reset_after=10.0, clock=clock)
    assert [backoff.next() for _ in range(3)] == [1.0, 2.0, 4.0]
    clock.step(10.0)
    assert backoff.next() == 8.0  # exactly reset_after is not longer than reset_after
    clock.step(10.5)
    assert backoff.next() == 1.0
    never = Backoff(1.0, 60.0, clock=clock)
    never.next()
    clock.step(1e6)
    assert never.next() == 2.0, "without reset_after, time alone never resets"


def test_reset_starts_over() -> None:
    backoff = Backoff(1.0, 60.0, clock=FakeClock())
    backoff.next()
    backoff.next()
    backoff.reset()
    assert backoff.next() == 1.0


def test_rejects_negative_delays_and_shrinking_factors() -> None:
    with pytest.raises(ValueError):
        Backoff(-1.0, 1.0)
    with pytest.raises(ValueError):
        Backoff(1.0, 2.0, factor=0.5)


async def test_sleep_waits_the_delay_on_the_clock() -> None:
    clock = FakeClock()
    backoff = Backoff(3.0, 60.0, clock=clock)
    sleeping = asyncio.ensure_future(backoff.sleep())
    await asyncio.wait_for(clock.wait_for_waiters(1), 1)
    clock.step(2.99)
    assert clock.waiters == 1 and not sleeping.done(), "woke before its 3 s"
    clock.step(0.01)
    assert await asyncio.wait_for(sleeping, 1) == 3.0
    assert clock.waiters == 0
