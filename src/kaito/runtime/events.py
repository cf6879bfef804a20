"""Kubernetes Events (core/v1) for what users should see in ``kubectl describe``.

Events are for people; they must never slow a reconcile down nor spend the reconcile client's
request budget. So, as client-go ``tools/record`` (its broadcaster with ``EventCorrelator``),
:meth:`EventRecorder.event` only puts the event into a bounded buffer and returns; the
recorder's :meth:`~EventRecorder.run` (a manager runnable, on every replica) writes them with
the recorder's own client, which ``kaito manager``/``kaito provisioner`` build with their own
QPS/burst (``--event-qps``/``--event-burst``). What it writes is what client-go writes:

* the same event again (same object, type, reason, message, source) does not create a new
  Event: the existing one is patched with the new ``count`` and ``lastTimestamp``. Repeats that
  arrive while the first is still waiting are folded into one write;
* more than ``max_similar`` (10) different messages for the same object/type/reason within
  ``similar_interval`` (10 min) are combined into one Event whose message starts with
  ``(combined from similar events):``;
* a spam filter per source and object (token bucket: 25 writes, then one per 5 minutes) holds
  writes back; the held-back occurrences still count in the next write of the same Event;
* a full buffer (``queue_size``, 1000 distinct events) drops the event; nothing ever blocks;
* on shutdown what is left is flushed for at most ``flush_timeout`` seconds.

Event names are ``<object name>.<hex nanoseconds>``; cluster-scoped objects' Events go to
``default``. Recording never raises: a failed write is logged. Every outcome is counted:
``kaito_events_{written,patched,dropped}_total{component}``.

A recorder whose :meth:`~EventRecorder.run` was never started (tests, scripts) writes inline,
inside ``event()``, with the same bookkeeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections import OrderedDict

import attrs

from kaito.runtime import metrics
from kaito.runtime.client import Client
from kaito.runtime.clock import REAL_CLOCK, Clock
from kaito.runtime.conditions import format_time
from kaito.runtime.errors import ApiError, NotFound, TransportError
from kaito.runtime.event_correlator import (
    EventBuffer,
    PendingEvent,
    SimilarAggregator,
    SpamFilter,
    correlate,
    involved_object,
    new_event,
    object_key,
    remember,
)
from kaito.runtime.resources import EVENT, Object, meta

log = logging.getLogger(__name__)

NORMAL = "Normal"
WARNING = "Warning"


@attrs.define
class _Seen:
    """What this recorder knows of one Event it wrote (or was about to)."""

    name: str | None
    """None while every occurrence so far was held back by the spam filter."""
    namespace: str
    count: int
    """The count the Event has in the API."""
    unwritten: int
    """Occurrences held back by the spam filter, added to the next write."""
    first_timestamp: str


class EventRecorder:
    """Records Events about objects as one component (``source.component``)."""

    def __init__(
        self,
        client: Client,
        component: str,
        *,
        host: str = "",
        max_similar: int = 10,
        similar_interval: float = 600.0,
        queue_size: int = 1000,
        spam_burst: int = 25,
        spam_qps: float = 1 / 300,
        flush_timeout: float = 5.0,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.client = client
        """The client Events are written with; give it its own rate budget."""
        self.component = component
        self.host = host
        self.flush_timeout = flush_timeout
        self._clock = clock
        self._buffer = EventBuffer(queue_size)
        self._similar = SimilarAggregator(max_similar, similar_interval)
        self._spam = SpamFilter(spam_burst, spam_qps, clock)
        self._seen: OrderedDict[tuple[str, ...], _Seen] = OrderedDict()
        self._writes: OrderedDict[tuple[str, ...], PendingEvent] = OrderedDict()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._running = False
        self._stopped = False
        self._overflowing = False
        self._written = metrics.events_written.labels(component)
        self._patched = metrics.events_patched.labels(component)
        self._dropped = {
            reason: metrics.events_dropped.labels(component, reason)
            for reason in metrics.EVENT_DROP_REASONS
        }

    # -- recording --------------------------------------------------------------------------
    async def event(self, obj: Object, type: str, reason: str, message: str) -> None:
        """Record an Event of ``type`` (``Normal``/``Warning``) about ``obj``.

        While :meth:`run` runs this never waits: the event is queued (or dropped and counted
        when the buffer is full). Without it, the event is written before this returns."""
        self.record(obj, type, reason, message)
        if not self._running and not self._stopped:
            await self._drain()

    def record(self, obj: Object, type: str, reason: str, message: str) -> bool:
        """Queue an Event about ``obj`` for the writer; False when it was dropped."""
        if self._stopped:
            self._dropped["shutdown"].inc()
            return False
        queued = self._buffer.add(
            involved_object(obj),
            type,
            reason,
            message,
            timestamp=format_time(dt.datetime.now(dt.UTC)),
            now=self._clock.now(),
        )
        if not queued:
            self._dropped["buffer_full"].inc()
            if not self._overflowing:
                self._overflowing = True
                log.warning(
                    "event buffer full (%d events): dropping events until the writer catches "
                    "up, first %s/%s about %s",
                    self._buffer.capacity,
                    type,
                    reason,
                    _ref(obj),
                )
            return False
        self._wake.set()
        return True

    @property
    def running(self) -> bool:
        """Whether :meth:`run` is writing the queued events."""
        return self._running

    @property
    def queued(self) -> int:
        """Distinct events in the buffer, not yet taken by the writer."""
        return len(self._buffer)

    @property
    def pending(self) -> int:
        """Occurrences not written yet: queued, or taken by the writer and not done."""
        return self._buffer.occurrences + sum(w.count for w in self._writes.values())

    # -- writing ----------------------------------------------------------------------------
    async def run(self) -> None:
        """Write queued events until cancelled, then flush what is left for at most
        ``flush_timeout`` seconds. A manager runnable: ``manager.add_runnable(recorder.run)``."""
        if self._running:
            raise RuntimeError(f"event recorder {self.component!r} is already running")
        self._running = True
        self._stopped = False
        drainer: asyncio.Task[None] | None = None
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                drainer = asyncio.ensure_future(self._drain())
                # a cancel must not cut a write in half (the Event might exist but be unknown)
                try:
                    await asyncio.shield(drainer)
                except Exception:
                    log.exception("event writer of %s failed; its batch is lost", self.component)
                    self._dropped["write_failed"].inc(self.pending - self._buffer.occurrences)
                    self._writes.clear()
                drainer = None
        except asyncio.CancelledError:
            self._stopped = True
            await self._flush(drainer)
            raise
        finally:
            self._stopped = True
            self._running = False

    async def _flush(self, drainer: asyncio.Task[None] | None) -> None:
        async def finish() -> None:
            if drainer is not None:
                await drainer
            await self._drain()

        flush = asyncio.ensure_future(finish())
        timer = asyncio.ensure_future(self._clock.sleep(self.flush_timeout))
        try:
            await asyncio.wait({flush, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            if not flush.done():
                flush.cancel()
            with contextlib.suppress(BaseException):
                await flush
            left = self.pending
            if left:
                log.warning(
                    "%d event(s) of %s not written: the flush on shutdown took over %ss",
                    left,
                    self.component,
                    self.flush_timeout,
                )
                self._dropped["shutdown"].inc(left)
                self._buffer.take()
                self._writes.clear()

    async def _drain(self) -> None:
        """Write everything queued (one writer at a time)."""
        async with self._lock:
            while True:
                if not self._writes:
                    batch = self._buffer.take()
                    if not batch:
                        return
                    self._overflowing = False
                    self._writes = correlate(batch, self._similar, self.component, self.host)
                key, write = next(iter(self._writes.items()))
                await self._write(key, write)
                self._writes.pop(key, None)

    async def _write(self, key: tuple[str, ...], write: PendingEvent) -> None:
        seen = self._seen.get(key)
        namespace = write.involved["namespace"] or "default"
        if not self._spam.allow((self.component, self.host, *object_key(write.involved))):
            if seen is None:
                seen = _Seen(None, namespace, 0, 0, write.first_timestamp)
            seen.unwritten += write.count
            remember(self._seen, key, seen)
            self._dropped["spam_filtered"].inc(write.count)
            return
        try:
            if seen is not None and seen.name is not None:
                count = seen.count + seen.unwritten + write.count
                try:
                    await self.client.patch(
                        EVENT,
                        seen.name,
                        {
                            "count": count,
                            "lastTimestamp": write.last_timestamp,
                            "message": write.message,
                        },
                        seen.namespace,
                    )
                except NotFound:
                    seen = None  # expired (Events live an hour): create a fresh one
                else:
                    seen.count, seen.unwritten = count, 0
                    remember(self._seen, key, seen)
                    self._patched.inc()
                    return
            unwritten = seen.unwritten if seen is not None else 0
            first = seen.first_timestamp if seen is not None else write.first_timestamp
            count = unwritten + write.count
            created = await self.client.create(
                EVENT, new_event(write, count, first, self.component, self.host)
            )
            name = str(created["metadata"]["name"])
            remember(self._seen, key, _Seen(name, namespace, count, 0, first))
            self._written.inc()
        except (ApiError, TransportError) as exc:
            self._dropped["write_failed"].inc(write.count)
            log.warning(
                "event %s/%s about %s %s/%s not recorded: %s",
                write.type,
                write.reason,
                write.involved["kind"],
                write.involved["namespace"],
                write.involved["name"],
                exc,
            )


def _ref(obj: Object) -> str:
    metadata = meta(obj)
    return f"{obj.get('kind')} {metadata.get('namespace', '')}/{metadata.get('name')}"
