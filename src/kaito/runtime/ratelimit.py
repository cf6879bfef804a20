"""Rate limiters for retries and for client-side request throttling.

Mirrors client-go ``util/workqueue/default_rate_limiters.go`` exactly:

* :class:`ItemExponentialFailureRateLimiter`: ``when(x) = min(base * 2**failures[x], max)``, then
  ``failures[x] += 1``; ``forget`` drops the counter (5 ms, 10 ms, ... 1000 s cap by default).
* :class:`BucketRateLimiter`: ``golang.org/x/time/rate`` ``Reserve().Delay()`` on one shared
  token bucket; every call takes a token, even for a new item; ``num_requeues`` is always 0.
* :class:`MaxOfRateLimiter`: the largest delay of its members; ``forget`` reaches all of them.
* :func:`default_controller_rate_limiter`: ``MaxOf(exponential 5 ms..1000 s, bucket 10 qps/100)``,
  controller-runtime's default for the classic work queue (the one Kaito runs).

:class:`TokenBucket` is the same bucket used the other way round, as client-go's
``flowcontrol.NewTokenBucketRateLimiter(qps, burst)``: ``await wait()`` before each request.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar

from kaito.runtime.clock import REAL_CLOCK, Clock

T = TypeVar("T", bound=Hashable)
T_contra = TypeVar("T_contra", bound=Hashable, contravariant=True)


class RateLimiter(Protocol[T_contra]):
    """How long an item should wait before it is retried (client-go ``TypedRateLimiter``)."""

    def when(self, item: T_contra) -> float:
        """Seconds to wait before the next retry of ``item``; records one more failure."""
        ...

    def forget(self, item: T_contra) -> None:
        """Stop tracking ``item`` (it succeeded or was given up on)."""
        ...

    def num_requeues(self, item: T_contra) -> int:
        """How many times ``item`` has been rate-limited since it was last forgotten."""
        ...


class ItemExponentialFailureRateLimiter(Generic[T]):
    """Per-item exponential backoff: ``base * 2**failures`` capped at ``max_delay``."""

    def __init__(self, base_delay: float = 0.005, max_delay: float = 1000.0) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._failures: dict[T, int] = {}

    def when(self, item: T) -> float:
        exp = self._failures.get(item, 0)
        self._failures[item] = exp + 1
        if exp >= 1024:  # 2**exp would overflow a float; the cap applies anyway
            return self.max_delay
        return min(self.base_delay * 2.0**exp, self.max_delay)

    def forget(self, item: T) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: T) -> int:
        return self._failures.get(item, 0)


class TokenBucket:
    """A ``golang.org/x/time/rate.Limiter``: ``qps`` tokens a second, at most ``burst`` saved.

    It starts full. :meth:`reserve` always takes a token and says how long the caller must wait
    for it (the bucket may go negative, so later callers queue up behind earlier ones).
    """

    def __init__(self, qps: float, burst: int, clock: Clock = REAL_CLOCK) -> None:
        if qps <= 0 or burst <= 0:
            raise ValueError("qps and burst must be positive")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock.now()

    def reserve(self) -> float:
        """Take one token; return the seconds until it is really available (0 if now)."""
        now = self._clock.now()
        elapsed = max(0.0, now - self._last)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps)
        self._last = now
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.qps

    def backlog(self) -> float:
        """Seconds a request made now would wait for its token (0: none queued); takes none."""
        elapsed = max(0.0, self._clock.now() - self._last)
        tokens = min(float(self.burst), self._tokens + elapsed * self.qps)
        return max(0.0, 1.0 - tokens) / self.qps if tokens < 1.0 else 0.0

    async def wait(self) -> None:
        """Block until a token is available (client-go ``RateLimiter.Wait``)."""
        delay = self.reserve()
        if delay > 0:
            await self._clock.sleep(delay)


class BucketRateLimiter(Generic[T]):
    """One token bucket shared by every item (client-go ``TypedBucketRateLimiter``)."""

    def __init__(self, qps: float = 10.0, burst: int = 100, clock: Clock = REAL_CLOCK) -> None:
        self._bucket = TokenBucket(qps, burst, clock)

    def when(self, item: T) -> float:
        return self._bucket.reserve()

    def forget(self, item: T) -> None:
        return None

    def num_requeues(self, item: T) -> int:
        return 0


class MaxOfRateLimiter(Generic[T]):
    """The worst (longest) delay among several limiters (client-go ``TypedMaxOfRateLimiter``)."""

    def __init__(self, *limiters: RateLimiter[T]) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self.limiters = limiters

    def when(self, item: T) -> float:
        return max(limiter.when(item) for limiter in self.limiters)

    def forget(self, item: T) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)


def default_controller_rate_limiter(clock: Clock = REAL_CLOCK) -> MaxOfRateLimiter[T]:
    """``workqueue.DefaultTypedControllerRateLimiter``: max(5 ms..1000 s per item, 10 qps/100)."""
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.005, 1000.0),
        BucketRateLimiter(10.0, 100, clock),
    )
