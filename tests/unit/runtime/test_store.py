"""Store/Indexer: keys, indexes, replace semantics."""

from __future__ import annotations

from typing import Any

import pytest

from kaito.runtime.store import (
    CONTROLLER_UID_INDEX,
    NAMESPACE_INDEX,
    OWNER_UID_INDEX,
    Store,
    index_by_controller_uid,
    index_by_label,
    index_by_owner_uid,
)


def obj(name: str, ns: str | None = "default", rv: str = "1", **meta: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "resourceVersion": rv, **meta}
    if ns:
        metadata["namespace"] = ns
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}


def test_keys_are_namespace_slash_name() -> None:
    store = Store()
    store.upsert(obj("a", "ns1"))
    store.upsert(obj("node-1", None))
    assert sorted(store.keys()) == ["node-1", "ns1/a"]
    assert store.get_object("ns1", "a") is not None
    assert store.get_object(None, "node-1") is not None
    assert "ns1/a" in store and len(store) == 2


def test_namespace_index_tracks_updates_and_deletes() -> None:
    store = Store()
    store.upsert(obj("a", "ns1"))
    store.upsert(obj("b", "ns1"))
    store.upsert(obj("c", "ns2"))
    assert [o["metadata"]["name"] for o in store.by_index(NAMESPACE_INDEX, "ns1")] == ["a", "b"]
    store.delete(obj("a", "ns1"))
    assert store.index_keys(NAMESPACE_INDEX, "ns1") == ["ns1/b"]
    store.delete_key("ns1/b")
    assert store.index_values(NAMESPACE_INDEX) == ["ns2"]
    with pytest.raises(KeyError):
        store.by_index("nope", "x")


def test_label_and_owner_indexes_move_with_the_object() -> None:
    store = Store(
        {
            "ws": index_by_label("kaito.sh/workspace", with_namespace=True),
            OWNER_UID_INDEX: index_by_owner_uid,
            CONTROLLER_UID_INDEX: index_by_controller_uid,
        }
    )
    owners = [
        {"uid": "u1", "controller": True, "kind": "Workspace", "name": "w"},
        {"uid": "u2", "kind": "Other", "name": "o"},
    ]
    store.upsert(obj("a", labels={"kaito.sh/workspace": "w1"}, ownerReferences=owners))
    assert store.index_keys("ws", "default/w1") == ["default/a"]
    assert store.index_keys(OWNER_UID_INDEX, "u2") == ["default/a"]
    assert store.index_keys(CONTROLLER_UID_INDEX, "u1") == ["default/a"]
    assert store.index_keys(CONTROLLER_UID_INDEX, "u2") == []
    store.upsert(obj("a", rv="2", labels={"kaito.sh/workspace": "w2"}))
    assert store.index_keys("ws", "default/w1") == []
    assert store.index_keys("ws", "default/w2") == ["default/a"]
    assert store.index_values(OWNER_UID_INDEX) == []


def test_add_indexers_later_indexes_existing_objects() -> None:
    store = Store()
    store.upsert(obj("a", labels={"app": "x"}))
    store.add_indexers({"app": index_by_label("app")})
    assert store.index_keys("app", "x") == ["default/a"]
    with pytest.raises(ValueError):
        store.add_indexers({"app": index_by_label("other")})


def test_replace_reports_adds_updates_and_vanished_keys() -> None:
    store = Store()
    store.upsert(obj("keep", rv="1"))
    store.upsert(obj("gone", rv="1"))
    changes = store.replace([obj("keep", rv="5"), obj("new", rv="6")])
    assert [o["metadata"]["name"] for o in changes.added] == ["new"]
    assert [
        (o["metadata"]["resourceVersion"], n["metadata"]["resourceVersion"])
        for o, n in changes.updated
    ] == [("1", "5")]
    assert [o["metadata"]["name"] for o in changes.deleted] == ["gone"]
    assert sorted(store.keys()) == ["default/keep", "default/new"]
    assert store.index_keys(NAMESPACE_INDEX, "default") == ["default/keep", "default/new"]
