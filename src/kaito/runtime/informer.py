"""Informers: a reflector, an indexed cache, and event handlers; shared per resource type.

Mirrors client-go ``tools/cache/shared_informer.go`` (``sharedIndexInformer``) and
controller-runtime's cache (``pkg/cache``):

* the reflector feeds the store, and each change is then handed to every registered handler
  in the order it happened, a relist in list order (client-go's ``RealFIFO`` delivery):
  ``on_add``, ``on_update(old, new)``, ``on_delete(last_state)``; a relist turns vanished
  keys into deletes;
* a handler registered after the first sync first receives an add for every cached object;
* an optional resync period re-delivers every cached object as ``on_update(obj, obj)``;
* ``has_synced`` becomes true once the first list is in the store;
* objects are transformed before caching: ``metadata.managedFields`` and kubectl's
  last-applied annotation are dropped by default (controller-runtime
  ``TransformStripManagedFields``, as Kaito's managers configure; the annotation is a second
  copy of the whole object as a string, which no controller reads);
* :class:`~kaito.runtime.cache.InformerCache` hands out one informer per (type, namespace,
  selectors), so any number of controllers share one watch.

Handlers run synchronously on the event loop and must be quick (enqueue a key, nothing more);
an exception in one is logged and does not stop the others. Cached objects are shared: never
mutate them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping

import attrs

from kaito.runtime.client import Client
from kaito.runtime.clock import REAL_CLOCK, Clock
from kaito.runtime.reflector import Reflector, ReflectorConfig
from kaito.runtime.resources import Object, ResourceType, meta
from kaito.runtime.store import IndexFunc, Store

log = logging.getLogger(__name__)

Transform = Callable[[Object], Object]


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def strip_managed_fields(obj: Object) -> Object:
    """Drop ``metadata.managedFields`` and kubectl's last-applied annotation (large, and never
    needed by a controller)."""
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("managedFields", None)
        annotations = metadata.get("annotations")
        if isinstance(annotations, dict) and LAST_APPLIED in annotations:
            del annotations[LAST_APPLIED]
    return obj


@attrs.frozen
class EventHandler:
    """Callbacks for one consumer of an informer (client-go ``ResourceEventHandlerFuncs``)."""

    on_add: Callable[[Object], None] | None = None
    on_update: Callable[[Object, Object], None] | None = None
    on_delete: Callable[[Object], None] | None = None


class CacheNotSynced(Exception):
    """A cached read of a type whose informer has not finished its first list: retry later
    (a reconciler that raises it is retried with backoff) instead of trusting an empty cache."""


class CacheSyncTimeout(Exception):
    """Informers did not finish their first list in time (controller-runtime:
    "timed out waiting for cache to be synced")."""


class Informer:
    """A shared index informer for one resource type (optionally one namespace/selector)."""

    def __init__(
        self,
        client: Client,
        rt: ResourceType,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        indexers: Mapping[str, IndexFunc] | None = None,
        resync_period: float | None = None,
        transform: Transform | None = strip_managed_fields,
        reflector_config: ReflectorConfig | None = None,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.rt = rt
        self.namespace = namespace
        self.store = Store(indexers)
        self.resync_period = resync_period
        self._transform = transform
        self._clock = clock
        self._handlers: list[EventHandler] = []
        self._synced = asyncio.Event()
        self.reflector = Reflector(
            client,
            rt,
            self,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            config=reflector_config,
            clock=clock,
        )

    # -- consumers --------------------------------------------------------------------------
    def add_event_handler(self, handler: EventHandler) -> Callable[[], None]:
        """Register ``handler``; returns a function that unregisters it."""
        self._handlers.append(handler)
        if self.has_synced and handler.on_add is not None:
            for obj in self.store.list():
                self._call(handler.on_add, obj)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._handlers.remove(handler)

        return remove

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        self.store.add_indexers(indexers)

    @property
    def has_synced(self) -> bool:
        """True once the first list has been stored."""
        return self._synced.is_set()

    async def wait_for_sync(self, timeout: float | None = None) -> None:
        """Wait for the first list; raise :class:`CacheSyncTimeout` after ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                await self._synced.wait()
        except TimeoutError:
            raise CacheSyncTimeout(f"informer for {self.rt} did not sync in {timeout}s") from None

    @property
    def last_sync_resource_version(self) -> str:
        return self.reflector.last_sync_resource_version

    async def run(self) -> None:
        """Run the reflector (and the resync timer) until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.reflector.run(), name=f"reflector {self.reflector.name}")
            if self.resync_period:
                tasks.create_task(self._resync_loop(self.resync_period))

    async def _resync_loop(self, period: float) -> None:
        while True:
            await self._clock.sleep(period * (1.0 + 0.1 * random.random()))
            if self.has_synced:
                self.resync()

    def resync(self) -> None:
        """Deliver every cached object to every handler as ``on_update(obj, obj)``."""
        for obj in self.store.list():
            for handler in list(self._handlers):
                if handler.on_update is not None:
                    self._call(handler.on_update, obj, obj)

    # -- the reflector's sink ---------------------------------------------------------------
    def _prepared(self, obj: Object) -> Object:
        return self._transform(obj) if self._transform is not None else obj

    def replace(self, items: list[Object], resource_version: str) -> None:
        changes = self.store.replace(self._prepared(item) for item in items)
        handlers = list(self._handlers)
        for old, new in changes.upserted:
            self._dispatch(handlers, old, new)
        for gone in changes.deleted:
            for handler in handlers:
                if handler.on_delete is not None:
                    self._call(handler.on_delete, gone)
        self._synced.set()

    def _dispatch(self, handlers: list[EventHandler], old: Object | None, new: Object) -> None:
        for handler in handlers:
            if old is None:
                if handler.on_add is not None:
                    self._call(handler.on_add, new)
            elif handler.on_update is not None:
                self._call(handler.on_update, old, new)

    def add(self, obj: Object) -> None:
        self.update(obj)

    def update(self, obj: Object) -> None:
        obj = self._prepared(obj)
        self._dispatch(list(self._handlers), self.store.upsert(obj), obj)

    def delete(self, obj: Object) -> None:
        obj = self._prepared(obj)
        old = self.store.delete(obj)
        final = obj if meta(obj) else (old or obj)
        for handler in list(self._handlers):
            if handler.on_delete is not None:
                self._call(handler.on_delete, final)

    def bookmark(self, resource_version: str) -> None:
        return None

    def _call(self, func: Callable[..., None], *args: Object) -> None:
        try:
            func(*args)
        except Exception:
            log.exception("informer %s: event handler failed", self.rt)
