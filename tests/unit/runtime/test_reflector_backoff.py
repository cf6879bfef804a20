"""Reflector backoff: 0.8 s doubling to 30 s, jitter 1.0, reset after 2 minutes healthy."""

from __future__ import annotations

import random

from kaito.runtime.clock import FakeClock
from kaito.runtime.reflector import ReflectorConfig


def test_backoff_doubles_caps_and_jitters() -> None:
    random.seed(7)
    clock = FakeClock()
    backoff = ReflectorConfig().backoff(clock)
    bases = [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0]
    for base in bases:
        delay = backoff.next()
        assert base <= delay < 2 * base, (base, delay)
        clock.step(delay)


def test_backoff_resets_after_two_healthy_minutes() -> None:
    clock = FakeClock()
    backoff = ReflectorConfig(backoff_jitter=0.0).backoff(clock)
    assert [backoff.next() for _ in range(4)] == [0.8, 1.6, 3.2, 6.4]
    clock.step(119)
    assert backoff.next() == 12.8  # not healthy long enough
    clock.step(120.5)
    assert backoff.next() == 0.8
