"""The bookkeeping behind :class:`~kaito.runtime.events.EventRecorder`, without any I/O.

Recording an Event must never slow a reconcile down, and a controller stuck in a loop must not
flood the API server with Events. These pieces decide what gets written and when, with
injectable time so they are tested without an API server or sleeping. They mirror client-go
``tools/record`` (``events_cache.go``):

* :class:`EventBuffer`: the bounded queue between ``event()`` and the writer (client-go's
  broadcaster keeps 1000 events and drops when full). Repeats of an event that is still
  waiting are folded into it (``count`` + the latest timestamp) instead of taking a slot,
  so a hot loop of one event costs one slot and, later, one write;
* :class:`SimilarAggregator`: client-go's ``EventAggregator``: once ``max_similar`` different
  messages for the same object/type/reason arrive within ``interval``, they are recorded as one
  Event whose message starts with ``(combined from similar events):``;
* :class:`SpamFilter`: client-go's ``EventSourceObjectSpamFilter``: a token bucket per source
  and involved object (burst 25, one token back every 5 minutes), one token per API write.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

import attrs

from kaito.runtime.clock import REAL_CLOCK, Clock
from kaito.runtime.resources import Object, meta

CACHE_SIZE = 4096
"""client-go's ``maxLruCacheEntries``: objects (or keys) remembered at most, oldest go first."""

COMBINED_PREFIX = "(combined from similar events): "


def remember(cache: OrderedDict[Any, Any], key: Any, value: Any, size: int = CACHE_SIZE) -> None:
    """Put ``key`` into an LRU ``cache`` as the most recent entry, evicting the oldest."""
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)


@attrs.define
class PendingEvent:
    """One event as ``event()`` saw it, with the repeats that arrived while it waited."""

    involved: dict[str, str]
    type: str
    reason: str
    message: str
    count: int
    first_timestamp: str
    last_timestamp: str
    last_seen: float
    """Clock time of the latest occurrence (for the similar-message interval)."""

    @property
    def object_key(self) -> tuple[str, ...]:
        return object_key(self.involved)


def object_key(involved: dict[str, str]) -> tuple[str, ...]:
    """Who an event is about, as client-go keys it: kind, namespace, name, uid, apiVersion."""
    return (
        involved["kind"],
        involved["namespace"],
        involved["name"],
        involved["uid"],
        involved["apiVersion"],
    )


class EventBuffer:
    """A bounded FIFO of :class:`PendingEvent`; identical events waiting in it are coalesced."""

    def __init__(self, capacity: int = 1000) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._pending: OrderedDict[tuple[str, ...], PendingEvent] = OrderedDict()

    def add(
        self,
        involved: dict[str, str],
        type: str,
        reason: str,
        message: str,
        *,
        timestamp: str,
        now: float,
    ) -> bool:
        """Queue one occurrence; False (and nothing queued) when the buffer is full."""
        key = (*object_key(involved), type, reason, message)
        pending = self._pending.get(key)
        if pending is not None:
            pending.count += 1
            pending.last_timestamp = timestamp
            pending.last_seen = now
            pending.involved = involved  # the newest resourceVersion
            return True
        if len(self._pending) >= self.capacity:
            return False
        self._pending[key] = PendingEvent(
            involved, type, reason, message, 1, timestamp, timestamp, now
        )
        return True

    def take(self) -> list[PendingEvent]:
        """Everything queued, oldest first; the buffer is empty afterwards."""
        taken = list(self._pending.values())
        self._pending.clear()
        return taken

    def __len__(self) -> int:
        """Distinct events queued (what counts against ``capacity``)."""
        return len(self._pending)

    @property
    def occurrences(self) -> int:
        """Occurrences queued, repeats included."""
        return sum(p.count for p in self._pending.values())


@attrs.define
class _Similar:
    messages: set[str]
    last: float


class SimilarAggregator:
    """Combines many different messages for one object/type/reason (client-go
    ``EventAggregator`` with ``maxEvents`` 10 and ``maxIntervalInSeconds`` 600)."""

    def __init__(self, max_similar: int = 10, interval: float = 600.0) -> None:
        self.max_similar = max_similar
        self.interval = interval
        self._similar: OrderedDict[tuple[str, ...], _Similar] = OrderedDict()

    def aggregate(self, base: tuple[str, ...], message: str, now: float) -> tuple[str, str]:
        """The dedupe discriminator and the message to write for ``message`` about ``base``
        (source, object, type and reason): the message itself, or the combined one."""
        similar = self._similar.get(base)
        if similar is None or now - similar.last > self.interval:
            similar = _Similar(set(), now)
        similar.messages.add(message)
        similar.last = now
        remember(self._similar, base, similar)
        if len(similar.messages) >= self.max_similar:
            return "(combined)", COMBINED_PREFIX + message
        return message, message


@attrs.define
class _Bucket:
    tokens: float
    last: float


class SpamFilter:
    """A token bucket per key (source + involved object): ``burst`` writes at once, then
    ``qps`` (1/300: one every 5 minutes); client-go ``EventSourceObjectSpamFilter``."""

    def __init__(
        self,
        burst: int = 25,
        qps: float = 1 / 300,
        clock: Clock = REAL_CLOCK,
        size: int = CACHE_SIZE,
    ) -> None:
        if burst <= 0 or qps <= 0:
            raise ValueError("burst and qps must be positive")
        self.burst = burst
        self.qps = qps
        self._clock = clock
        self._size = size
        self._buckets: OrderedDict[tuple[str, ...], _Bucket] = OrderedDict()

    def allow(self, key: tuple[str, ...]) -> bool:
        """Take a token for ``key`` if one is there (``flowcontrol.TryAccept``)."""
        now = self._clock.now()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(float(self.burst), now)
        else:
            elapsed = max(0.0, now - bucket.last)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.qps)
            bucket.last = now
        remember(self._buckets, key, bucket, self._size)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return True
        return False


def involved_object(obj: Object) -> dict[str, str]:
    """The ``involvedObject`` of an Event about ``obj``."""
    metadata = meta(obj)
    return {
        "kind": str(obj.get("kind", "")),
        "namespace": str(metadata.get("namespace") or ""),
        "name": str(metadata.get("name", "")),
        "uid": str(metadata.get("uid", "")),
        "apiVersion": str(obj.get("apiVersion", "")),
        "resourceVersion": str(metadata.get("resourceVersion", "")),
    }


def new_event(
    write: PendingEvent, count: int, first_timestamp: str, component: str, host: str
) -> dict[str, Any]:
    """A core/v1 Event for ``write``: named ``<object>.<hex nanoseconds>``, in the object's
    namespace (``default`` for cluster-scoped objects), from ``component`` on ``host``."""
    involved = write.involved
    return {
        "metadata": {
            "name": f"{involved['name']}.{time.time_ns():x}",
            "namespace": involved["namespace"] or "default",
        },
        "involvedObject": involved,
        "reason": write.reason,
        "message": write.message,
        "type": write.type,
        "source": {"component": component, **({"host": host} if host else {})},
        "firstTimestamp": first_timestamp,
        "lastTimestamp": write.last_timestamp,
        "count": count,
        "reportingComponent": component,
        "reportingInstance": host,
    }


def correlate(
    batch: list[PendingEvent], similar: SimilarAggregator, component: str, host: str
) -> OrderedDict[tuple[str, ...], PendingEvent]:
    """Turn queued events into writes: combine similar messages, one write per Event."""
    writes: OrderedDict[tuple[str, ...], PendingEvent] = OrderedDict()
    for pending in batch:
        base = (component, host, *pending.object_key, pending.type, pending.reason)
        discriminator, message = similar.aggregate(base, pending.message, pending.last_seen)
        key = (*base, discriminator)
        write = writes.get(key)
        if write is None:  # a copy: the combined message is the write's, not the queue's
            writes[key] = attrs.evolve(pending, message=message)
        else:
            write.involved = pending.involved
            write.message = message
            write.count += pending.count
            write.last_timestamp = max(write.last_timestamp, pending.last_timestamp)
    return writes
