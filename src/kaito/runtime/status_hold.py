"""Hold back a status that is about to change again: a fast flow writes one status, not three.

A Workspace goes from nothing to ``WorkspaceReady`` through states a reconcile sees for a
moment each (NodeClaim pending, node joining, pods starting); a NodeClaim goes through
``Launched``, ``Registered``, ``Initialized``. Writing each costs one API request of the
reconcile client's budget, and when the next state follows within seconds nobody reads the
one before. So an *intermediate* status (the reconcile will look again: it requeues) that
differs from the stored one is written only once it has been wanted for ``window`` seconds;
meanwhile the pass requeues after the time left. A *settled* status (nothing pending) is
written at once, and so is every status of a flow slower than ``window``: a user still sees
each state that lasts, at most ``window`` late. ``window=0`` writes every change at once.

Only the time a key's status first differed is remembered; a status written, settled or no
longer differing forgets the key, so memory is bounded by the objects in flight.
"""

from __future__ import annotations

from collections.abc import Hashable

from kaito.runtime.clock import REAL_CLOCK, Clock


class StatusHold:
    """When each object's pending status change was first wanted."""

    def __init__(self, window: float, clock: Clock = REAL_CLOCK) -> None:
        self.window = window
        self._clock = clock
        self._since: dict[Hashable, float] = {}

    def delay(self, key: Hashable, *, settled: bool) -> float | None:
        """Seconds to hold the change of ``key``'s status back; None: write it now."""
        if settled or self.window <= 0:
            self._since.pop(key, None)
            return None
        now = self._clock.now()
        left = self._since.setdefault(key, now) + self.window - now
        if left > 0:
            return left
        del self._since[key]
        return None

    def forget(self, key: Hashable) -> None:
        """``key``'s status needs no write (or the object is gone)."""
        self._since.pop(key, None)

    @property
    def pending(self) -> int:
        """Objects whose status change is waiting."""
        return len(self._since)


NO_HOLD = StatusHold(0.0)
"""Writes every change at once (a zero window keeps no state, so one instance serves all)."""
