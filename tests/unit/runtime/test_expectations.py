"""Expectations on a fake clock: a creation is believed until the cache shows it, or times out."""

from __future__ import annotations

from kaito.runtime.clock import FakeClock
from kaito.runtime.expectations import Expectations


def test_a_created_name_is_pending_until_observed() -> None:
    expected = Expectations(clock=FakeClock())
    assert not expected.pending("a")
    expected.created("a")
    assert expected.pending("a")
    expected.observed("a")
    assert not expected.pending("a")
    assert len(expected) == 0


def test_a_creation_the_cache_never_shows_is_forgotten_after_the_timeout() -> None:
    clock = FakeClock()
    expected = Expectations(timeout=300.0, clock=clock)
    expected.created("a")
    clock.step(300.0)
    assert expected.pending("a")
    clock.step(0.1)
    assert not expected.pending("a")  # deleted before its watch event: create it again
    assert len(expected) == 0
