"""Injectable time, so queues, rate limiters and leases can be tested without sleeping.

Mirrors client-go's ``k8s.io/utils/clock`` (``clock.Clock`` / ``testing.FakeClock``): every
runtime piece that waits takes a :class:`Clock`; production code uses :data:`REAL_CLOCK`
(``time.monotonic`` and ``asyncio.sleep``) and tests use :class:`FakeClock`, whose sleepers
wake only when the test calls :meth:`FakeClock.step`. :func:`clock_timeout` is
``asyncio.timeout`` on a clock's time, for deadlines a fake clock must control too.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import AsyncIterator, Callable
from typing import Protocol


class Timer(Protocol):
    """A scheduled callback that can still be called off."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """Monotonic seconds, a sleep and a timer that honour them."""

    def now(self) -> float:
        """Seconds on a monotonic scale (only differences are meaningful)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once ``now()`` has advanced by at least ``seconds``."""
        ...

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` (on the running event loop) once ``seconds`` have passed."""
        ...


class RealClock:
    """The process clock: ``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(max(0.0, seconds), callback)


REAL_CLOCK: Clock = RealClock()


@contextlib.asynccontextmanager
async def clock_timeout(clock: Clock, seconds: float | None) -> AsyncIterator[None]:
    """``asyncio.timeout(seconds)`` measured on ``clock``: the body is cancelled and
    :class:`TimeoutError` raised once ``seconds`` have passed (``None``: no deadline)."""
    async with asyncio.timeout(None) as deadline:
        loop = asyncio.get_running_loop()
        timer = None
        if seconds is not None:
            timer = clock.call_later(seconds, lambda: deadline.reschedule(loop.time()))
        try:
            yield
        finally:
            if timer is not None:
                timer.cancel()


class _FakeTimer:
    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A clock that moves only when told to; like client-go's ``testing.FakeClock``.

    Timers fire synchronously inside :meth:`step` (or :meth:`set`), in deadline order;
    ``sleep`` is a timer that resolves a future, so a sleeper resumes on the next turn of
    the event loop. Tests step the clock, then ``await`` whatever they expect to happen.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._seq = itertools.count()
        self._timers: list[tuple[float, int, _FakeTimer]] = []
        self._waits: list[tuple[int, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self._now

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Timer:
        timer = _FakeTimer(callback)
        heapq.heappush(self._timers, (self._now + max(0.0, seconds), next(self._seq), timer))
        if self._waits:
            pending = self.waiters
            for count, future in self._waits:
                if pending >= count and not future.done():
                    future.set_result(None)
            self._waits = [(count, future) for count, future in self._waits if not future.done()]
        return timer

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        timer = self.call_later(seconds, wake)
        try:
            await future
        finally:
            timer.cancel()

    def step(self, seconds: float) -> None:
        """Advance the time by ``seconds``, firing every timer that became due."""
        self.set(self._now + seconds)

    def set(self, when: float) -> None:
        """Move the time to ``when`` (never backwards), firing due timers in order."""
        target = max(self._now, when)
        while self._timers and self._timers[0][0] <= target:
            deadline, _, timer = heapq.heappop(self._timers)
            self._now = max(self._now, deadline)
            if not timer.cancelled:
                timer.callback()
        self._now = target

    @property
    def waiters(self) -> int:
        """How many timers (sleepers included) are still pending."""
        return sum(1 for _, _, timer in self._timers if not timer.cancelled)

    async def wait_for_waiters(self, count: int = 1) -> None:
        """Return once at least ``count`` timers are pending: a test's barrier for "everything
        that was to happen before the next :meth:`step` has happened, and is asleep now"."""
        if self.waiters >= count:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waits.append((count, future))
        try:
            await future
        finally:
            if not future.done():
                future.cancel()
            self._waits = [(n, f) for n, f in self._waits if f is not future]
