"""The controller work queue: deduplicating, never concurrent per key, delaying, rate-limited.

Mirrors client-go ``util/workqueue/{queue.go,delaying_queue.go,rate_limiting_queue.go}`` in one
class, for asyncio:

* ``queue`` (FIFO) + ``dirty`` (needs processing) + ``processing`` (handed to a worker). An item
  is never in ``queue`` twice, and never given to two workers at once: adding an item that is
  being processed only marks it dirty, and :meth:`WorkQueue.done` puts it back in the queue.
* :meth:`WorkQueue.add_after` keeps the *earliest* ready time per item (client-go ``insert``);
  when the time comes the item is :meth:`WorkQueue.add`-ed, with the usual deduplication.
* :meth:`WorkQueue.add_rate_limited` = ``add_after(item, rate_limiter.when(item))``;
  :meth:`WorkQueue.forget` and :meth:`WorkQueue.num_requeues` delegate to the limiter.
* ``shut_down`` stops accepting adds; workers drain what is queued, then ``get`` raises
  :class:`QueueShutDown`. ``shut_down_with_drain`` also waits for every ``done``.

Time comes from an injectable :class:`~kaito.runtime.clock.Clock` (client-go
``TypedQueueConfig.Clock``). Metrics follow client-go's ``defaultQueueMetrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Hashable
from typing import Any, Generic, Protocol, TypeVar

import attrs

from kaito.runtime.clock import REAL_CLOCK, Clock, Timer
from kaito.runtime.ratelimit import RateLimiter, default_controller_rate_limiter

T = TypeVar("T", bound=Hashable)


class QueueShutDown(Exception):
    """``get`` on a queue that is shut down and empty: the worker should return."""


class _Gauge(Protocol):
    def inc(self, amount: float = 1) -> Any: ...
    def dec(self, amount: float = 1) -> Any: ...


class _Counter(Protocol):
    def inc(self, amount: float = 1) -> Any: ...


class _Histogram(Protocol):
    def observe(self, amount: float) -> Any: ...


@attrs.frozen
class QueueMetrics:
    """Where a queue reports (client-go ``MetricsProvider``); prometheus children fit as-is."""

    depth: _Gauge
    adds: _Counter
    latency: _Histogram
    work_duration: _Histogram
    retries: _Counter


class WorkQueue(Generic[T]):
    """client-go's rate-limiting delaying work queue, for one asyncio event loop.

    Typical worker::

        while True:
            try:
                item = await queue.get()
            except QueueShutDown:
                return
            try:
                ...  # process item; on error queue.add_rate_limited(item), else queue.forget(item)
            finally:
                queue.done(item)
    """

    def __init__(
        self,
        name: str = "",
        *,
        rate_limiter: RateLimiter[T] | None = None,
        clock: Clock = REAL_CLOCK,
        metrics: QueueMetrics | None = None,
    ) -> None:
        self.name = name
        self.rate_limiter: RateLimiter[T] = rate_limiter or default_controller_rate_limiter(clock)
        self._clock = clock
        self._metrics = metrics
        self._queue: deque[T] = deque()
        self._dirty: set[T] = set()
        self._processing: set[T] = set()
        self._getters: deque[asyncio.Future[None]] = deque()
        self._waiting: dict[T, tuple[float, Timer]] = {}
        self._add_times: dict[T, float] = {}
        self._start_times: dict[T, float] = {}
        self._shutting_down = False
        self._drain_waiter: asyncio.Future[None] | None = None

    # -- the basic queue ---------------------------------------------------------------
    def add(self, item: T) -> None:
        """Mark ``item`` as needing processing; a no-op if it already is."""
        if self._shutting_down or item in self._dirty:
            return
        if self._metrics is not None:  # client-go counts parked items in depth too
            self._metrics.adds.inc()
            self._metrics.depth.inc()
            self._add_times.setdefault(item, self._clock.now())
        self._dirty.add(item)
        if item in self._processing:
            return  # parked: done() re-queues it
        self._queue.append(item)
        self._wake_one()

    async def get(self) -> T:
        """Wait for the next item and mark it as processing. Raises :class:`QueueShutDown`."""
        while not self._queue and not self._shutting_down:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # hand our wake-up to another getter
                else:
                    with contextlib.suppress(ValueError):
                        self._getters.remove(waiter)
                raise
        if not self._queue:
            raise QueueShutDown(self.name)
        item = self._queue.popleft()
        self._processing.add(item)
        self._dirty.discard(item)
        now = self._clock.now()
        self._start_times[item] = now
        if self._metrics is not None:
            self._metrics.depth.dec()
            added = self._add_times.pop(item, None)
            if added is not None:
                self._metrics.latency.observe(now - added)
        return item

    def done(self, item: T) -> None:
        """Finish processing ``item``; if it was added meanwhile, queue it again."""
        self._processing.discard(item)
        started = self._start_times.pop(item, None)
        if self._metrics is not None and started is not None:
            self._metrics.work_duration.observe(self._clock.now() - started)
        if item in self._dirty:
            self._queue.append(item)
            self._wake_one()
        elif (
            not self._processing
            and self._drain_waiter is not None
            and not self._drain_waiter.done()
        ):
            self._drain_waiter.set_result(None)

    def __len__(self) -> int:
        """Items ready to be handed out (not those waiting for a delay or being processed)."""
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    @property
    def processing(self) -> int:
        """Items handed to workers and not yet ``done``."""
        return len(self._processing)

    def shut_down(self) -> None:
        """Stop accepting items; blocked and future ``get`` calls drain the queue, then raise."""
        self._shutting_down = True
        for _, timer in self._waiting.values():
            timer.cancel()
        self._waiting.clear()
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    async def shut_down_with_drain(self) -> None:
        """``shut_down`` and wait until every item handed out has been ``done``."""
        self.shut_down()
        if self._processing:
            self._drain_waiter = asyncio.get_running_loop().create_future()
            await self._drain_waiter

    def _wake_one(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    # -- delaying -----------------------------------------------------------------------
    def add_after(self, item: T, delay: float) -> None:
        """Add ``item`` once ``delay`` seconds have passed; an earlier pending time wins."""
        if self._shutting_down:
            return
        if self._metrics is not None:
            self._metrics.retries.inc()
        if delay <= 0:
            self.add(item)
            return
        ready_at = self._clock.now() + delay
        pending = self._waiting.get(item)
        if pending is not None:
            if pending[0] <= ready_at:
                return
            pending[1].cancel()
        timer = self._clock.call_later(delay, lambda: self._ready(item))
        self._waiting[item] = (ready_at, timer)

    def cancel_after(self, item: T) -> None:
        """Drop ``item``'s pending delayed add, if any (an ``add`` still queues it at once)."""
        pending = self._waiting.pop(item, None)
        if pending is not None:
            pending[1].cancel()

    def _ready(self, item: T) -> None:
        self._waiting.pop(item, None)
        self.add(item)

    @property
    def waiting(self) -> int:
        """Items parked by ``add_after`` whose time has not come yet."""
        return len(self._waiting)

    # -- rate limiting ------------------------------------------------------------------
    def add_rate_limited(self, item: T) -> None:
        """Add ``item`` after the rate limiter says it may be retried."""
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: T) -> None:
        """Tell the rate limiter that ``item`` is done being retried."""
        self.rate_limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        return self.rate_limiter.num_requeues(item)

    # -- for the unfinished-work gauges (client-go updateUnfinishedWorkLoop) -------------
    def unfinished_work_seconds(self) -> float:
        """Seconds of work in progress that has not been ``done`` yet, summed over items."""
        now = self._clock.now()
        return sum(now - started for started in self._start_times.values())

    def longest_running_processor_seconds(self) -> float:
        """How long the longest-running item in progress has been processed."""
        if not self._start_times:
            return 0.0
        return self._clock.now() - min(self._start_times.values())
