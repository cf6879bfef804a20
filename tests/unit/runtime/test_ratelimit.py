"""Rate limiters: the exact client-go numbers."""

from __future__ import annotations

import asyncio

import pytest

from kaito.runtime.clock import FakeClock
from kaito.runtime.ratelimit import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    TokenBucket,
    default_controller_rate_limiter,
)


def test_exponential_doubles_from_5ms_and_caps_at_1000s() -> None:
    limiter: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter()
    delays = [limiter.when("a") for _ in range(20)]
    assert delays[:4] == pytest.approx([0.005, 0.010, 0.020, 0.040])
    assert delays[17] == pytest.approx(0.005 * 2**17)  # 655.36 s
    assert delays[18] == 1000.0
    assert delays[19] == 1000.0
    assert limiter.num_requeues("a") == 20
    assert limiter.when("b") == pytest.approx(0.005)  # per item
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == pytest.approx(0.005)


def test_exponential_never_overflows() -> None:
    limiter: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter(1.0, 5.0)
    for _ in range(1100):
        delay = limiter.when("x")
    assert delay == 5.0


def test_bucket_allows_burst_then_spaces_at_qps() -> None:
    clock = FakeClock()
    limiter: BucketRateLimiter[str] = BucketRateLimiter(10.0, 100, clock)
    assert [limiter.when(str(i)) for i in range(100)] == [0.0] * 100
    assert limiter.when("101") == pytest.approx(0.1)
    assert limiter.when("102") == pytest.approx(0.2)
    clock.step(0.2)  # two tokens refilled, both already reserved
    assert limiter.when("103") == pytest.approx(0.1)
    assert limiter.num_requeues("101") == 0


def test_bucket_refills_to_burst_only() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10.0, 5, clock)
    for _ in range(5):
        assert bucket.reserve() == 0.0
    clock.step(3600)
    assert [bucket.reserve() for _ in range(5)] == [0.0] * 5
    assert bucket.reserve() == pytest.approx(0.1)


def test_default_controller_limiter_is_max_of_both() -> None:
    clock = FakeClock()
    limiter: MaxOfRateLimiter[str] = default_controller_rate_limiter(clock)
    # within the burst the exponential limiter dominates
    assert limiter.when("a") == pytest.approx(0.005)
    assert limiter.when("a") == pytest.approx(0.010)
    for i in range(98):
        limiter.when(f"other-{i}")
    # bucket now empty: a new item waits for the bucket (0.1 s) not 5 ms
    assert limiter.when("new") == pytest.approx(0.1)
    assert limiter.num_requeues("a") == 2
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0


def test_max_of_needs_a_limiter() -> None:
    with pytest.raises(ValueError):
        MaxOfRateLimiter()


async def test_token_bucket_wait_sleeps_on_the_clock() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2.0, 1, clock)
    await bucket.wait()  # first token is free
    waiter = asyncio.ensure_future(bucket.wait())
    await clock.wait_for_waiters(1)  # it sleeps on the clock for the next token
    clock.step(0.49)
    await clock.wait_for_waiters(1)
    assert not waiter.done()
    clock.step(0.01)
    await asyncio.wait_for(waiter, 1)


def test_bucket_backlog_says_how_long_a_request_now_would_wait_and_takes_no_token() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=10, burst=2, clock=clock)
    assert bucket.backlog() == 0.0
    assert bucket.reserve() == 0.0
    assert bucket.backlog() == 0.0  # one token left
    assert bucket.reserve() == 0.0
    assert bucket.backlog() == pytest.approx(0.1)  # empty: the next token in 0.1 s
    assert bucket.reserve() == pytest.approx(0.1)
    assert bucket.backlog() == pytest.approx(0.2)  # one request queued ahead
    clock.step(0.1)
    assert bucket.backlog() == pytest.approx(0.1)  # the queued one has its token now
    clock.step(0.1)
    assert bucket.backlog() == 0.0
