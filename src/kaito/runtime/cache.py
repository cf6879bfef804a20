"""The shared informer cache: one informer per (type, namespace, selectors), however many
controllers read it (controller-runtime's ``cache.Cache``, client-go's informer factory).

A process decides per type what its cache holds (controller-runtime's ``cache.Options.ByObject``):
a label selector, so that only the objects it can act on are listed and watched at all, and a
transform that keeps only the fields its reconcilers read. Every informer of that type (and
every cached read of it) then uses both, so a reader cannot reach past them by accident.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

import attrs

from kaito.runtime.client import Client
from kaito.runtime.clock import REAL_CLOCK, Clock
from kaito.runtime.informer import (
    CacheNotSynced,
    CacheSyncTimeout,
    Informer,
    Transform,
    strip_managed_fields,
)
from kaito.runtime.reflector import ReflectorConfig
from kaito.runtime.resources import Object, ResourceType, meta


@attrs.frozen
class ByObject:
    """What the cache holds of one type (controller-runtime's ``cache.ByObject``)."""

    label_selector: str | None = None
    """Only objects matching it are listed and watched (unless a caller asks for another)."""
    transform: Transform | None = None
    """Applied to each object before it is cached, instead of the cache-wide transform."""


@attrs.frozen
class _Key:
    rt: ResourceType
    namespace: str | None
    label_selector: str | None
    field_selector: str | None


class InformerCache:
    """Shared informers by (type, namespace, selectors): one watch per key however many
    controllers use it (controller-runtime's ``cache.Cache`` / client-go's factory)."""

    def __init__(
        self,
        client: Client,
        *,
        resync_period: float | None = None,
        reflector_config: ReflectorConfig | None = None,
        transform: Transform | None = strip_managed_fields,
        by_object: Mapping[ResourceType, ByObject] | None = None,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.client = client
        self.resync_period = resync_period
        self._reflector_config = reflector_config
        self._transform = transform
        self._by_object = dict(by_object or {})
        self._clock = clock
        self._informers: dict[_Key, Informer] = {}
        self._tasks: dict[_Key, asyncio.Task[None]] = {}
        self._started = False

    def informer(
        self,
        rt: ResourceType,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Informer:
        """The shared informer for this key, created (and started, if the cache runs) on demand.

        Without ``label_selector`` the type's :class:`ByObject` selector applies."""
        key = self._key(rt, namespace, label_selector, field_selector)
        informer = self._informers.get(key)
        if informer is None:
            options = self._by_object.get(rt, ByObject())
            informer = Informer(
                self.client,
                rt,
                namespace=key.namespace,
                label_selector=key.label_selector,
                field_selector=field_selector,
                resync_period=self.resync_period,
                transform=options.transform or self._transform,
                reflector_config=self._reflector_config,
                clock=self._clock,
            )
            self._informers[key] = informer
            if self._started:
                self._start(key, informer)
        return informer

    def _key(
        self,
        rt: ResourceType,
        namespace: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> _Key:
        if label_selector is None:
            label_selector = self._by_object.get(rt, ByObject()).label_selector
        return _Key(rt, namespace if rt.namespaced else None, label_selector, field_selector)

    @property
    def informers(self) -> list[Informer]:
        return list(self._informers.values())

    def start(self) -> None:
        """Start every informer (and any created later). Needs a running event loop."""
        self._started = True
        for key, informer in self._informers.items():
            if key not in self._tasks:
                self._start(key, informer)

    def _start(self, key: _Key, informer: Informer) -> None:
        self._tasks[key] = asyncio.get_running_loop().create_task(
            informer.run(), name=f"informer {key.rt}"
        )

    async def wait_for_sync(self, timeout: float | None = 120.0) -> None:
        """Wait until every informer has synced (controller-runtime ``CacheSyncTimeout``: 2 min)."""
        try:
            async with asyncio.timeout(timeout):
                for informer in list(self._informers.values()):
                    await informer.wait_for_sync()
        except TimeoutError:
            pending = [str(i.rt) for i in self._informers.values() if not i.has_synced]
            raise CacheSyncTimeout(
                f"timed out after {timeout}s waiting for caches to sync: {', '.join(pending)}"
            ) from None

    @property
    def has_synced(self) -> bool:
        return all(informer.has_synced for informer in self._informers.values())

    async def stop(self) -> None:
        """Cancel every informer and wait for them to end."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self._started = False

    # -- cached reads -----------------------------------------------------------------------
    # Reads use the all-namespaces informer of the type (or the one for that namespace); a type
    # nobody watches gets an informer on first read, and reads raise CacheNotSynced until it
    # has synced, because an empty cache must never be mistaken for "nothing exists".
    def get(self, rt: ResourceType, name: str, namespace: str | None = None) -> Object | None:
        """The cached object from the all-namespaces (or the namespace's) informer of ``rt``."""
        informer = self._reader(rt, namespace)
        return informer.store.get_object(namespace if rt.namespaced else None, name)

    def list(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        *,
        labels: Mapping[str, str] | None = None,
    ) -> list[Object]:
        """Cached objects of ``rt``, optionally in one namespace and matching ``labels``."""
        informer = self._reader(rt, namespace)
        if namespace and rt.namespaced:
            objects = informer.store.by_index("namespace", namespace)
        else:
            objects = informer.store.list()
        if labels:
            objects = [
                obj
                for obj in objects
                if all((meta(obj).get("labels") or {}).get(k) == v for k, v in labels.items())
            ]
        return objects

    def _reader(self, rt: ResourceType, namespace: str | None) -> Informer:
        informer: Informer | None = None
        for key in (self._key(rt, None), self._key(rt, namespace)):
            informer = self._informers.get(key)
            if informer is not None:
                break
        if informer is None:
            informer = self.informer(rt, namespace=namespace)
        if not informer.has_synced:
            raise CacheNotSynced(f"the {rt.kind} cache has not synced yet")
        return informer
