"""Informer delivery: what handlers see for relists, watch events, late registration, resync."""

from __future__ import annotations

import asyncio
from typing import Any

from kaito.runtime.clock import FakeClock
from kaito.runtime.informer import EventHandler, Informer
from kaito.runtime.resources import CONFIG_MAP


def cm(name: str, rv: str, **extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv, **extra}}


class Seen:
    def __init__(self) -> None:
        self.log: list[tuple[str, ...]] = []

    def handler(self) -> EventHandler:
        return EventHandler(
            on_add=lambda o: self.log.append(("add", o["metadata"]["name"])),
            on_update=lambda old, new: self.log.append(
                (
                    "update",
                    new["metadata"]["name"],
                    old["metadata"]["resourceVersion"],
                    new["metadata"]["resourceVersion"],
                )
            ),
            on_delete=lambda o: self.log.append(("delete", o["metadata"]["name"])),
        )


def informer(clock: FakeClock | None = None, resync: float | None = None) -> Informer:
    return Informer(None, CONFIG_MAP, resync_period=resync, clock=clock or FakeClock())  # type: ignore[arg-type]


def test_relist_turns_vanished_keys_into_deletes() -> None:
    inf, seen = informer(), Seen()
    inf.add_event_handler(seen.handler())
    assert not inf.has_synced
    inf.replace([cm("a", "1"), cm("b", "1")], "10")
    assert inf.has_synced
    inf.replace([cm("a", "2"), cm("c", "3")], "20")
    assert seen.log == [
        ("add", "a"),
        ("add", "b"),
        ("update", "a", "1", "2"),
        ("add", "c"),
        ("delete", "b"),
    ]
    assert sorted(o["metadata"]["name"] for o in inf.store.list()) == ["a", "c"]


def test_watch_events_and_managed_fields_stripped() -> None:
    inf, seen = informer(), Seen()
    inf.add_event_handler(seen.handler())
    inf.add(cm("a", "1", managedFields=[{"manager": "x"}]))
    inf.update(cm("a", "2"))
    inf.add(cm("a", "3"))  # an ADDED for a known key is an update (client-go)
    inf.delete(cm("a", "4"))
    inf.delete(cm("never-seen", "5"))
    assert seen.log == [
        ("add", "a"),
        ("update", "a", "1", "2"),
        ("update", "a", "2", "3"),
        ("delete", "a"),
        ("delete", "never-seen"),
    ]
    assert len(inf.store) == 0


def test_late_handlers_get_the_cache_and_failing_handlers_are_isolated() -> None:
    inf = informer()
    inf.replace([cm("a", "1"), cm("b", "1")], "1")

    def broken(obj: dict[str, Any]) -> None:
        raise RuntimeError("handler bug")

    inf.add_event_handler(EventHandler(on_add=broken))
    late = Seen()
    remove = inf.add_event_handler(late.handler())
    assert sorted(late.log) == [("add", "a"), ("add", "b")]
    inf.add(cm("c", "2"))  # the broken handler raises first; the late one still hears it
    assert late.log[-1] == ("add", "c")
    remove()
    inf.add(cm("d", "3"))
    assert late.log[-1] == ("add", "c")


async def test_periodic_resync_redelivers_every_object() -> None:
    clock = FakeClock()
    inf, seen = informer(clock, resync=60.0), Seen()
    inf.add_event_handler(seen.handler())
    inf.replace([cm("a", "1"), cm("b", "1")], "1")
    seen.log.clear()
    loop = asyncio.ensure_future(inf._resync_loop(60.0))
    await clock.wait_for_waiters(1)  # the loop sleeps until its first resync
    clock.step(59)
    assert clock.waiters == 1, "the resync timer fired before its period"
    assert seen.log == []
    clock.step(7)  # the period is jittered up to +10%: due now, so the timer fired
    assert clock.waiters == 0
    await clock.wait_for_waiters(1)  # the loop resynced and sleeps until the next one
    assert sorted(seen.log) == [("update", "a", "1", "1"), ("update", "b", "1", "1")]
    loop.cancel()


def test_cached_reads_refuse_an_unsynced_cache() -> None:
    import pytest

    from kaito.runtime.cache import InformerCache
    from kaito.runtime.informer import CacheNotSynced

    cache = InformerCache(None)  # type: ignore[arg-type]
    with pytest.raises(CacheNotSynced):
        cache.list(CONFIG_MAP, "ns")  # never watched: an informer is made, not yet synced
    shared = cache.informer(CONFIG_MAP)
    assert len(cache.informers) == 2  # the namespaced one from the read, and this one
    shared.replace([cm("a", "1", labels={"app": "x"}), cm("b", "1")], "1")
    assert cache.get(CONFIG_MAP, "a", "ns") is not None
    assert [o["metadata"]["name"] for o in cache.list(CONFIG_MAP, "ns", labels={"app": "x"})] == [
        "a"
    ]
    assert cache.get(CONFIG_MAP, "zzz", "ns") is None
