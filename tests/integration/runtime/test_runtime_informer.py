"""Informer against the real apiserver: events, apiserver restart, 410 relist, bookmarks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from kaito.runtime.cache import InformerCache
from kaito.runtime.client import Client, ClientConfig
from kaito.runtime.informer import EventHandler, Informer
from kaito.runtime.reflector import ReflectorConfig
from kaito.runtime.resources import CONFIG_MAP, Object
from kaito.testenv import ControlPlane
from tests.support.waiting import eventually


class Recorder:
    """Records handler calls as (event, name, data)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, Any]] = []

    def handler(self) -> EventHandler:
        return EventHandler(
            on_add=lambda o: self.events.append(("add", o["metadata"]["name"], o.get("data"))),
            on_update=lambda old, new: self.events.append(
                ("update", new["metadata"]["name"], new.get("data"))
            ),
            on_delete=lambda o: self.events.append(
                ("delete", o["metadata"]["name"], o.get("data"))
            ),
        )


def cm(name: str, ns: str, labels: dict[str, str] | None = None, **data: str) -> Object:
    return {"metadata": {"name": name, "namespace": ns, "labels": labels or {}}, "data": data}


@contextlib.asynccontextmanager
async def running(informer: Informer) -> AsyncIterator[Informer]:
    task = asyncio.ensure_future(informer.run())
    try:
        await informer.wait_for_sync(30)
        yield informer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def snapshot(client: Client, ns: str) -> dict[str, str]:
    listed = await client.list(CONFIG_MAP, ns)
    return {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in listed.items}


def cached(informer: Informer) -> dict[str, str]:
    return {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in informer.store.list()}


async def test_sees_add_update_delete(client: Client, namespace: str) -> None:
    await client.create(CONFIG_MAP, cm("before", namespace, v="0"))
    informer = Informer(client, CONFIG_MAP, namespace=namespace)
    recorder = Recorder()
    informer.add_event_handler(recorder.handler())
    async with running(informer):
        assert ("add", "before", {"v": "0"}) in recorder.events
        assert informer.store.get_object(namespace, "before") is not None
        # managedFields are stripped from the cache
        assert "managedFields" not in informer.store.get_object(namespace, "before")["metadata"]
        await client.create(CONFIG_MAP, cm("x", namespace, v="1"))
        await client.patch(CONFIG_MAP, "x", {"data": {"v": "2"}}, namespace)
        await client.delete(CONFIG_MAP, "x", namespace)
        expected = [
            ("add", "x", {"v": "1"}),
            ("update", "x", {"v": "2"}),
            ("delete", "x", {"v": "2"}),
        ]
        await eventually(lambda: [e for e in recorder.events if e[1] == "x"] == expected)
        assert informer.store.get_object(namespace, "x") is None
        # a late handler gets the cached objects as adds
        late = Recorder()
        informer.add_event_handler(late.handler())
        assert sorted(e[1] for e in late.events if e[0] == "add") == sorted(cached(informer))
        assert informer.reflector.lists == 1


async def test_shared_informers_one_watch_per_key(client: Client, namespace: str) -> None:
    cache = InformerCache(client)
    first = cache.informer(CONFIG_MAP, namespace=namespace)
    assert cache.informer(CONFIG_MAP, namespace=namespace) is first
    assert cache.informer(CONFIG_MAP, namespace=namespace, label_selector="a=b") is not first
    cache.start()
    try:
        await cache.wait_for_sync(30)
        await client.create(CONFIG_MAP, cm("sel", namespace, labels={"a": "b"}))
        await client.create(CONFIG_MAP, cm("other", namespace))
        selected = cache.informer(CONFIG_MAP, namespace=namespace, label_selector="a=b")
        await eventually(lambda: "sel" in cached(selected) and "other" in cached(first))
        assert "other" not in cached(selected)
        assert cache.get(CONFIG_MAP, "other", namespace) is not None
        assert [
            o["metadata"]["name"] for o in cache.list(CONFIG_MAP, namespace, labels={"a": "b"})
        ] == ["sel"]
        assert all(i.reflector.lists == 1 for i in cache.informers)
    finally:
        await cache.stop()


async def test_survives_apiserver_restart(
    client: Client, namespace: str, control_plane: ControlPlane, restarts_apiserver: None
) -> None:
    for i in range(5):
        await client.create(CONFIG_MAP, cm(f"pre-{i}", namespace, v="0"))
    informer = Informer(
        client, CONFIG_MAP, namespace=namespace, reflector_config=ReflectorConfig(backoff_max=2.0)
    )
    recorder = Recorder()
    informer.add_event_handler(recorder.handler())
    async with running(informer):
        assert set(cached(informer)) >= {f"pre-{i}" for i in range(5)}
        await asyncio.to_thread(control_plane.restart_apiserver)
        await client.create(CONFIG_MAP, cm("post", namespace, v="1"))
        await client.patch(CONFIG_MAP, "pre-0", {"data": {"v": "changed"}}, namespace)
        await client.delete(CONFIG_MAP, "pre-1", namespace)
        fresh = await snapshot(client, namespace)
        await eventually(lambda: cached(informer) == fresh, 60, "cache == fresh list after restart")
        assert ("update", "pre-0", {"v": "changed"}) in recorder.events
        assert ("delete", "pre-1", {"v": "0"}) in recorder.events
        assert informer.reflector.watches >= 2


async def test_relists_after_compaction_and_misses_nothing(
    client: Client,
    namespace: str,
    control_plane: ControlPlane,
    proxied_kubeconfig: tuple[Path, Any],
    restarts_apiserver: None,
) -> None:
    path, proxy = proxied_kubeconfig
    for name in ("keep", "change", "remove"):
        await client.create(CONFIG_MAP, cm(name, namespace, v="0"))
    async with await Client.from_kubeconfig(path, config=ClientConfig(qps=0)) as partitioned:
        informer = Informer(
            partitioned,
            CONFIG_MAP,
            namespace=namespace,
            reflector_config=ReflectorConfig(backoff_max=2.0),
        )
        recorder = Recorder()
        informer.add_event_handler(recorder.handler())
        async with running(informer):
            old_rv = informer.last_sync_resource_version
            proxy.freeze()  # the informer hears nothing from now on
            await client.create(CONFIG_MAP, cm("new", namespace, v="1"))
            await client.patch(CONFIG_MAP, "change", {"data": {"v": "2"}}, namespace)
            await client.delete(CONFIG_MAP, "remove", namespace)
            revision = await asyncio.to_thread(control_plane.compact_etcd)
            assert revision > int(old_rv)
            # a fresh apiserver has no watch history: the old RV can only be answered with 410
            await asyncio.to_thread(control_plane.restart_apiserver)
            # still partitioned: the cache holds the old world
            assert {"keep", "change", "remove"} <= set(cached(informer))
            assert "new" not in cached(informer)
            proxy.sever()  # the partition heals: the informer re-watches from its old RV
            fresh = await snapshot(client, namespace)
            await eventually(lambda: cached(informer) == fresh, 60, "cache == fresh list")
            assert informer.reflector.expired >= 1
            assert informer.reflector.lists >= 2
            assert ("add", "new", {"v": "1"}) in recorder.events
            assert ("update", "change", {"v": "2"}) in recorder.events
            assert ("delete", "remove", {"v": "0"}) in recorder.events


async def test_bookmarks_advance_the_resource_version(client: Client, namespace: str) -> None:
    informer = Informer(
        client,
        CONFIG_MAP,
        namespace=namespace,
        label_selector="bookmark-test=yes",
        reflector_config=ReflectorConfig(min_watch_timeout=3),
    )
    recorder = Recorder()
    informer.add_event_handler(recorder.handler())
    async with running(informer):
        start_rv = int(informer.last_sync_resource_version)
        # a change the informer does not see (no matching label) moves the global RV
        other = await client.create(CONFIG_MAP, cm("unrelated", namespace))
        other_rv = int(other["metadata"]["resourceVersion"])
        assert other_rv > start_rv
        # The apiserver sends a bookmark 2 s before each short watch's deadline and at least
        # once a minute; on a loaded 2-core CI machine one 3-5 s watch can miss its window,
        # so the wait covers the periodic one too.
        await eventually(
            lambda: int(informer.last_sync_resource_version) >= other_rv,
            90,
            f"a bookmark past RV {other_rv}",
        )
        assert recorder.events == []
        assert informer.reflector.lists == 1
