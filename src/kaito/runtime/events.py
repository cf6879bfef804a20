"""Kubernetes Events (core/v1) for what users should see in ``kubectl describe``.

Mirrors client-go ``tools/record`` (``EventRecorder`` with its ``EventCorrelator``):

* the same event again (same object, type, reason, message, source) does not create a new
  Event: the existing one is patched with ``count + 1`` and a new ``lastTimestamp``;
* more than ``max_similar`` (10) different messages for the same object/type/reason within
  ``similar_interval`` (10 min) are combined into one Event whose message starts with
  ``(combined from similar events):``;
* Event names are ``<object name>.<hex nanoseconds>``; cluster-scoped objects' Events go to
  ``default``. Recording never raises: a failed write is logged.

client-go's per-object spam filter (token bucket 25/5 min) is not implemented.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import OrderedDict
from typing import Any

import attrs

from kaito.runtime.client import Client
from kaito.runtime.conditions import format_time
from kaito.runtime.errors import ApiError, NotFound, TransportError
from kaito.runtime.resources import EVENT, Object, meta

log = logging.getLogger(__name__)

NORMAL = "Normal"
WARNING = "Warning"
CACHE_SIZE = 4096


@attrs.define
class _Seen:
    name: str
    namespace: str
    count: int
    first_timestamp: str


@attrs.define
class _Similar:
    messages: set[str]
    last: float


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
    ) -> None:
        self.client = client
        self.component = component
        self.host = host
        self.max_similar = max_similar
        self.similar_interval = similar_interval
        self._seen: OrderedDict[tuple[str, ...], _Seen] = OrderedDict()
        self._similar: OrderedDict[tuple[str, ...], _Similar] = OrderedDict()

    async def event(self, obj: Object, type: str, reason: str, message: str) -> None:
        """Record an Event of ``type`` (``Normal``/``Warning``) about ``obj``."""
        try:
            await self._record(obj, type, reason, message)
        except (ApiError, TransportError) as exc:
            log.warning("event %s/%s about %s not recorded: %s", type, reason, _ref(obj), exc)

    async def _record(self, obj: Object, type: str, reason: str, message: str) -> None:
        involved = _involved(obj)
        base = (
            self.component,
            self.host,
            involved["kind"],
            involved["namespace"],
            involved["name"],
            involved["uid"],
            involved["apiVersion"],
            type,
            reason,
        )
        now = time.monotonic()
        similar = self._similar.get(base)
        if similar is None or now - similar.last > self.similar_interval:
            similar = _Similar(set(), now)
        similar.messages.add(message)
        similar.last = now
        _remember(self._similar, base, similar)
        if len(similar.messages) >= self.max_similar:
            message = f"(combined from similar events): {message}"
            key = (*base, "(combined)")
        else:
            key = (*base, message)

        timestamp = format_time(dt.datetime.now(dt.UTC))
        seen = self._seen.get(key)
        if seen is not None:
            seen.count += 1
            try:
                await self.client.merge_patch(
                    EVENT,
                    seen.name,
                    {"count": seen.count, "lastTimestamp": timestamp, "message": message},
                    seen.namespace,
                )
                _remember(self._seen, key, seen)
                return
            except NotFound:
                pass  # expired (events live an hour): create a fresh one
        namespace = involved["namespace"] or "default"
        event: dict[str, Any] = {
            "metadata": {
                "name": f"{involved['name']}.{time.time_ns():x}",
                "namespace": namespace,
            },
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": type,
            "source": {"component": self.component, **({"host": self.host} if self.host else {})},
            "firstTimestamp": timestamp,
            "lastTimestamp": timestamp,
            "count": 1,
            "reportingComponent": self.component,
            "reportingInstance": self.host,
        }
        created = await self.client.create(EVENT, event)
        _remember(self._seen, key, _Seen(created["metadata"]["name"], namespace, 1, timestamp))


def _involved(obj: Object) -> dict[str, str]:
    metadata = meta(obj)
    return {
        "kind": str(obj.get("kind", "")),
        "namespace": str(metadata.get("namespace") or ""),
        "name": str(metadata.get("name", "")),
        "uid": str(metadata.get("uid", "")),
        "apiVersion": str(obj.get("apiVersion", "")),
        "resourceVersion": str(metadata.get("resourceVersion", "")),
    }


def _ref(obj: Object) -> str:
    metadata = meta(obj)
    return f"{obj.get('kind')} {metadata.get('namespace', '')}/{metadata.get('name')}"


def _remember(cache: OrderedDict[tuple[str, ...], Any], key: tuple[str, ...], value: Any) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > CACHE_SIZE:
        cache.popitem(last=False)
