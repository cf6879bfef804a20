"""How long the running reconcile has waited on the API server.

``controller_runtime_reconcile_time_seconds`` is wall time: at scale it is mostly client-side
throttling and round trips, which say nothing about what a reconcile itself costs. The
controller opens an :class:`ApiWait` around each reconcile (a context variable, so concurrent
reconciles keep their own); the transport wraps every request in :meth:`ApiWait.request`,
from before the rate limiter to the moment the caller resumes with the body (decoding it is
the reconcile's own work, so it is not counted). Overlapping requests of one reconcile (a
``gather``) count once: the wait is the union of their intervals. The controller reports
wall time minus the wait as ``kaito_reconcile_work_seconds``.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from kaito.runtime.clock import Clock

_current: contextvars.ContextVar[ApiWait | None] = contextvars.ContextVar(
    "kaito_api_wait", default=None
)


class ApiWait:
    """Seconds spent waiting on the API server by one reconcile."""

    __slots__ = ("_clock", "_depth", "_since", "seconds")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._depth = 0
        self._since = 0.0
        self.seconds = 0.0

    @contextmanager
    def active(self) -> Iterator[ApiWait]:
        """Make this the running reconcile's wait (for the current task and its children)."""
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)

    def _enter(self) -> None:
        if self._depth == 0:
            self._since = self._clock.now()
        self._depth += 1

    def _exit(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self.seconds += self._clock.now() - self._since

    @staticmethod
    @contextmanager
    def request() -> Iterator[None]:
        """Count the enclosed wait towards the running reconcile's (if there is one)."""
        wait = _current.get()
        if wait is None:
            yield
            return
        wait._enter()
        try:
            yield
        finally:
            wait._exit()
