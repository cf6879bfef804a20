"""StatusHold on a fake clock: an intermediate change waits, a settled one never does."""

from __future__ import annotations

from kaito.runtime.clock import FakeClock
from kaito.runtime.status_hold import StatusHold


def test_an_intermediate_change_waits_for_the_window_from_when_it_was_first_wanted() -> None:
    clock = FakeClock()
    hold = StatusHold(5.0, clock)
    assert hold.delay("a", settled=False) == 5.0
    clock.step(2.0)
    assert hold.delay("a", settled=False) == 3.0  # still counted from the first time
    clock.step(3.0)
    assert hold.delay("a", settled=False) is None  # due: written now
    assert hold.pending == 0
    assert hold.delay("a", settled=False) == 5.0  # the next change waits afresh


def test_a_settled_status_is_written_at_once_and_forgets_the_wait() -> None:
    clock = FakeClock()
    hold = StatusHold(5.0, clock)
    assert hold.delay("a", settled=False) == 5.0
    clock.step(1.0)
    assert hold.delay("a", settled=True) is None
    assert hold.pending == 0


def test_forget_and_a_zero_window() -> None:
    clock = FakeClock()
    hold = StatusHold(5.0, clock)
    hold.delay("a", settled=False)
    hold.delay("b", settled=False)
    hold.forget("a")
    assert hold.pending == 1
    assert StatusHold(0.0, clock).delay("a", settled=False) is None
