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

A progress status is worth less than the writes that make progress: while the writer's client
is throttled (requests queued behind its QPS limit, as when hundreds of objects arrive at
once), a due intermediate status keeps waiting, up to ``longest`` seconds in all, so that the
budget goes to creating what was asked for and a state gone by then costs nothing. Without
such a queue a status is ``window`` late at most, as before; problems are never held.

Only the time a key's status first differed is remembered; a status written, settled or no
longer differing forgets the key, so memory is bounded by the objects in flight.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from kaito.runtime.clock import REAL_CLOCK, Clock


class StatusHold:
    """When each object's pending status change was first wanted."""

    def __init__(
        self,
        window: float,
        clock: Clock = REAL_CLOCK,
        *,
        backlog: Callable[[], float] | None = None,
        longest: float | None = None,
    ) -> None:
        """``backlog``: seconds the writer's next request would wait for its rate limit;
        ``longest`` (default six windows): the most a status waits while it is positive."""
        self.window = window
        self.longest = max(window, 6 * window if longest is None else longest)
        self._clock = clock
        self._backlog = backlog
        self._since: dict[Hashable, float] = {}

    def delay(self, key: Hashable, *, settled: bool) -> float | None:
        """Seconds to hold the change of ``key``'s status back; None: write it now."""
        if settled or self.window <= 0:
            self._since.pop(key, None)
            return None
        now = self._clock.now()
        since = self._since.setdefault(key, now)
        left = since + self.window - now
        if left > 0:
            return left
        queued = self._backlog() if self._backlog is not None else 0.0
        if queued > 0 and now - since < self.longest:
            return min(max(queued, self.window / 10), since + self.longest - now)
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
