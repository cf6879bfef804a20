"""Creations a reconciler has made that its cache does not show yet (client-go's
``ControllerExpectations``, kept per object name).

A watch delivers a created object some milliseconds to seconds after the create returned.
A reconcile of the same owner that runs in between (another event, a requeue) reads the
cache, misses the object and would create it again: a wasted write answered 409
AlreadyExists, or with a generated name a second object. So a reconciler records each name
it created, treats a recorded name as existing until its cache shows it, and forgets a
record after ``timeout`` (client-go's five minutes), in case the object was deleted before
its watch event came, so that nothing waits for ever.
"""

from __future__ import annotations

from collections.abc import Hashable

from kaito.runtime.clock import REAL_CLOCK, Clock

TIMEOUT = 300.0
"""Seconds a creation is expected at most (client-go ``ExpectationsTimeout``)."""


class Expectations:
    """Names created and not yet seen in the cache, with when they were created."""

    def __init__(self, timeout: float = TIMEOUT, clock: Clock = REAL_CLOCK) -> None:
        self.timeout = timeout
        self._clock = clock
        self._created: dict[Hashable, float] = {}

    def created(self, key: Hashable) -> None:
        """``key`` was created just now."""
        self._created[key] = self._clock.now()

    def observed(self, key: Hashable) -> None:
        """The cache shows ``key``: nothing to wait for."""
        self._created.pop(key, None)

    def pending(self, key: Hashable) -> bool:
        """Whether ``key`` was created and the cache may not show it yet."""
        since = self._created.get(key)
        if since is None:
            return False
        if self._clock.now() - since > self.timeout:
            del self._created[key]
            return False
        return True

    def __len__(self) -> int:
        return len(self._created)
