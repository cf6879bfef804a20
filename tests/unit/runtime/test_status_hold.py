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


def test_a_due_progress_status_waits_while_the_writer_is_throttled_up_to_the_longest() -> None:
    clock = FakeClock()
    queued = [0.0]
    hold = StatusHold(5.0, clock, backlog=lambda: queued[0], longest=30.0)
    assert hold.delay("a", settled=False) == 5.0
    clock.step(5.0)
    queued[0] = 2.0  # requests wait 2 s for the client's rate limit
    assert hold.delay("a", settled=False) == 2.0
    clock.step(2.0)
    queued[0] = 0.01  # a short queue still holds it, re-checked no sooner than window/10
    assert hold.delay("a", settled=False) == 0.5
    clock.step(20.0)
    queued[0] = 9.0  # never past the longest wait, counted from when it was first wanted
    assert hold.delay("a", settled=False) == 3.0
    clock.step(3.0)
    assert hold.delay("a", settled=False) is None
    assert hold.pending == 0


def test_an_unthrottled_writer_writes_a_due_status_at_the_window() -> None:
    clock = FakeClock()
    hold = StatusHold(5.0, clock, backlog=lambda: 0.0)
    assert hold.longest == 30.0  # six windows by default
    hold.delay("a", settled=False)
    clock.step(5.0)
    assert hold.delay("a", settled=False) is None


def test_a_settled_status_is_never_held_for_a_throttled_writer() -> None:
    hold = StatusHold(5.0, FakeClock(), backlog=lambda: 10.0)
    assert hold.delay("a", settled=True) is None
