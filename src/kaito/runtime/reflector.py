"""The reflector: keep a local copy of one resource type in sync with the API server.

Mirrors client-go ``tools/cache/reflector.go`` rule for rule:

* list first at resourceVersion ``"0"`` (served from the watch cache), paginated at 500; later
  relists ask "not older than" the last synced RV, and fall back to ``""`` (a quorum read) only
  when that RV is gone too (410 Expired/Gone) or too large;
* watch from the list's RV with ``allowWatchBookmarks=true`` and ``timeoutSeconds`` random in
  [300, 600); BOOKMARK events only move the RV;
* when the server closes a watch cleanly (timeout), or the connection breaks, or nothing arrived
  for the inactivity deadline (client-go relies on HTTP/2 pings; aiohttp has none), watch again
  from the last RV without relisting; a watch that closes within 1 s with no events is an error;
* a watch that cannot start because the connection is refused (apiserver restarting) or 429
  backs off and watches again; any other failure (410 included) ends this round: after a
  backoff the reflector relists;
* backoff 0.8 s doubling to 30 s with jitter 1.0, reset after 2 minutes without a failure.

The RV moves from a watch that started at ``""``/``"0"`` only after a non-ADDED event (its
synthetic ADDEDs are not ordered); ours always start at a concrete RV, but the rule is kept.
"""

from __future__ import annotations

import errno
import logging
import random
from typing import Protocol

import attrs

from kaito.runtime.backoff import Backoff
from kaito.runtime.client import Client, ObjectList
from kaito.runtime.clock import REAL_CLOCK, Clock
from kaito.runtime.errors import (
    Gone,
    TooManyRequests,
    TransportError,
    is_too_large_resource_version,
)
from kaito.runtime.resources import Object, ResourceType, meta
from kaito.runtime.watch import WatchInactive, WatchStream

log = logging.getLogger(__name__)


@attrs.frozen
class ReflectorConfig:
    """client-go's reflector numbers; tests shorten them."""

    page_size: int = 500
    """Items per list page (client-go ``tools/pager`` default)."""
    min_watch_timeout: float = 300.0
    """Watches ask the server for ``timeoutSeconds`` in [min, 2*min)."""
    inactivity_timeout: float = 90.0
    """No event and no bookmark for this long means a dead connection (bookmarks come ~1/min)."""
    backoff_initial: float = 0.8
    backoff_max: float = 30.0
    backoff_reset: float = 120.0
    """After this long without a backoff the apiserver is assumed healthy again."""
    backoff_jitter: float = 1.0

    def backoff(self, clock: Clock = REAL_CLOCK) -> Backoff:
        """``wait.Backoff{0.8s, x2, jitter 1.0, cap 30s}`` with client-go's reset after 2 min."""
        return Backoff(
            self.backoff_initial,
            self.backoff_max,
            jitter=self.backoff_jitter,
            reset_after=self.backoff_reset,
            clock=clock,
        )


class ReflectorSink(Protocol):
    """Where a reflector delivers what it sees (the informer)."""

    def replace(self, items: list[Object], resource_version: str) -> None: ...
    def add(self, obj: Object) -> None: ...
    def update(self, obj: Object) -> None: ...
    def delete(self, obj: Object) -> None: ...
    def bookmark(self, resource_version: str) -> None: ...


class _VeryShortWatch(Exception):
    """The watch closed within a second with no events (client-go ``very short watch``)."""


class Reflector:
    """Lists and watches one resource type into a :class:`ReflectorSink`, forever."""

    def __init__(
        self,
        client: Client,
        rt: ResourceType,
        sink: ReflectorSink,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        config: ReflectorConfig | None = None,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.client = client
        self.rt = rt
        self.sink = sink
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.config = config or ReflectorConfig()
        self._clock = clock
        self._backoff = self.config.backoff(clock)
        self.name = f"{rt}" + (f" in {namespace}" if namespace else "")
        self.last_sync_resource_version = ""
        self._rv_unavailable = False
        self._paginated = False
        self.lists = 0
        """Completed lists (first sync and relists), for tests and benchmarks."""
        self.watches = 0
        """Watch requests the server accepted."""
        self.expired = 0
        """Watches or lists that ended with 410 (resourceVersion too old)."""

    async def run(self) -> None:
        """List and watch until cancelled; failures are logged and retried after a backoff."""
        while True:
            try:
                await self.list_and_watch()
            except Gone as exc:
                self.expired += 1
                log.info("reflector %s: %s; will relist after backoff", self.name, exc)
            except Exception as exc:
                log.warning("reflector %s: %s; will relist after backoff", self.name, exc)
            await self._backoff.sleep()

    # -- list -------------------------------------------------------------------------------
    def relist_resource_version(self) -> str:
        """``""`` after the last RV expired, ``"0"`` before the first sync, else the last RV."""
        if self._rv_unavailable:
            return ""
        return self.last_sync_resource_version or "0"

    async def _list(self) -> None:
        rv = self.relist_resource_version()
        try:
            result = await self._list_at(rv)
        except Exception as exc:
            if not (isinstance(exc, Gone) or is_too_large_resource_version(exc)):
                raise
            log.info(
                "reflector %s: list at RV %r: %s; listing at the latest RV", self.name, rv, exc
            )
            self._rv_unavailable = True
            result = await self._list_at("")
        self.sink.replace(result.items, result.resource_version)
        self.last_sync_resource_version = result.resource_version
        self._rv_unavailable = False
        self.lists += 1

    async def _list_at(self, rv: str) -> ObjectList:
        """Paged list at ``rv`` (an expired continue token means one unpaginated list at the
        same RV: :func:`~kaito.runtime.pager.list_all`). A relist at a concrete RV is not
        paged unless this resource has been, so the watch cache can serve it (client-go)."""
        page_size: int | None = self.config.page_size
        if rv not in ("", "0") and not self._paginated:
            page_size = None
        result = await self.client.list(
            self.rt,
            self.namespace,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            page_size=page_size,
            resource_version=rv,
        )
        self._paginated |= result.paginated
        return result

    # -- watch ------------------------------------------------------------------------------
    async def list_and_watch(self) -> None:
        """One round: list, then watch until something requires a relist (raised)."""
        await self._list()
        while True:
            timeout = int(self.config.min_watch_timeout * (1.0 + random.random()))
            stream = self.client.watch(
                self.rt,
                self.namespace,
                resource_version=self.last_sync_resource_version,
                timeout_seconds=timeout,
                allow_bookmarks=True,
                label_selector=self.label_selector,
                field_selector=self.field_selector,
                inactivity_timeout=self.config.inactivity_timeout,
            )
            try:
                await stream.open()
            except TransportError as exc:
                if not _connection_refused(exc):
                    raise
                log.info("reflector %s: watch refused (%s); backing off", self.name, exc)
                await self._backoff.sleep()
                continue
            except TooManyRequests:
                await self._backoff.sleep()
                continue
            self.watches += 1
            try:
                await self._handle_watch(stream, started_at=self.last_sync_resource_version)
            except TooManyRequests:
                await self._backoff.sleep()
            finally:
                stream.close()

    async def _handle_watch(self, stream: WatchStream, *, started_at: str) -> None:
        start = self._clock.now()
        events = 0
        ordered = started_at not in ("", "0")
        try:
            async for event in stream:
                events += 1
                obj = event.object
                rv = str(meta(obj).get("resourceVersion", ""))
                if event.type == "ADDED":
                    self.sink.add(obj)
                elif event.type == "MODIFIED":
                    self.sink.update(obj)
                    ordered = True
                elif event.type == "DELETED":
                    self.sink.delete(obj)
                    ordered = True
                elif event.type == "BOOKMARK":
                    self.sink.bookmark(rv)
                    ordered = True
                else:
                    log.warning("reflector %s: unknown watch event %r", self.name, event.type)
                    continue
                if rv and ordered:
                    self.last_sync_resource_version = rv
        except WatchInactive as exc:
            log.info("reflector %s: %s; watching again", self.name, exc)
            return
        except TransportError as exc:
            log.info("reflector %s: watch broke (%s); watching again", self.name, exc)
        if events == 0 and self._clock.now() - start < 1.0:
            raise _VeryShortWatch(f"{self.name}: watch lasted less than a second and got nothing")


def _connection_refused(exc: TransportError) -> bool:
    """client-go ``utilnet.IsConnectionRefused``: nothing listens (apiserver restarting)."""
    cause: BaseException | None = exc.__cause__
    for _ in range(8):
        if cause is None:
            return False
        if (
            isinstance(cause, ConnectionRefusedError)
            or getattr(cause, "errno", None) == errno.ECONNREFUSED
        ):
            return True
        cause = cause.__cause__ or cause.__context__
    return False
