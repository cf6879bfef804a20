"""Exponential backoff with jitter, a cap and a reset after a healthy spell, on a :class:`Clock`.

One implementation for every retry loop in the runtime (the reflector's relists and watches,
the webhook's caBundle injection), so each of them waits on the injectable clock and a test
with :class:`~kaito.runtime.clock.FakeClock` controls all of them. Mirrors client-go's
``wait.Backoff`` (``Duration``, ``Factor``, ``Jitter``, ``Cap``) combined with
``wait.NewExponentialBackoffManager``'s ``resetDuration``: when no delay was asked for during
``reset_after`` seconds, the next one starts from ``initial`` again.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from kaito.runtime.clock import REAL_CLOCK, Clock


class Backoff:
    """Delays ``initial``, ``initial*factor``, ... up to ``cap``, each plus up to ``jitter``
    times itself at random (client-go ``wait.Jitter``)."""

    def __init__(
        self,
        initial: float,
        cap: float,
        *,
        factor: float = 2.0,
        jitter: float = 0.0,
        reset_after: float | None = None,
        clock: Clock = REAL_CLOCK,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if min(initial, cap, jitter) < 0 or factor < 1.0:
            raise ValueError("backoff needs delays and jitter >= 0 and a factor >= 1")
        self.initial = initial
        self.cap = cap
        self.factor = factor
        self.jitter = jitter
        self.reset_after = reset_after
        """``None``: never reset by time (only :meth:`reset` starts over)."""
        self._clock = clock
        self._rand = rand
        self._duration = initial
        self._last: float | None = None

    def next(self) -> float:
        """The next delay; restarts from ``initial`` after ``reset_after`` without a call."""
        now = self._clock.now()
        last, reset_after = self._last, self.reset_after
        if last is not None and reset_after is not None and now - last > reset_after:
            self._duration = self.initial
        self._last = now
        delay = self._duration
        self._duration = min(self._duration * self.factor, self.cap)
        return delay + self._rand() * self.jitter * delay

    def reset(self) -> None:
        """Start over from ``initial`` (after a success, for loops that know of one)."""
        self._duration = self.initial
        self._last = None

    async def sleep(self) -> float:
        """Wait the next delay on the clock; return it."""
        delay = self.next()
        await self._clock.sleep(delay)
        return delay
