"""The informer cache: objects by ``namespace/name`` key, with secondary indexes.

Mirrors client-go ``tools/cache/{store.go,index.go,thread_safe_store.go}`` (``Indexer``): index
functions map an object to zero or more values; ``by_index(name, value)`` answers "which
objects have this value" without scanning. The default index is ``namespace``; helpers make
owner and label indexes. :meth:`Store.replace` returns the changes a full relist implies,
including deletes for keys that vanished (client-go ``DeltaFIFO.Replace`` queues
``DeletedFinalStateUnknown`` for those), so deletes missed while disconnected still surface.

Single event loop, no locks. Cached objects are shared: callers must not mutate them.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Iterator, Mapping

import attrs

from kaito.runtime.resources import Object, meta, object_key

IndexFunc = Callable[[Object], Iterable[str]]
"""Values an object is indexed under (client-go ``IndexFunc``)."""

NAMESPACE_INDEX = "namespace"
OWNER_UID_INDEX = "owner-uid"
CONTROLLER_UID_INDEX = "controller-uid"


def index_by_namespace(obj: Object) -> list[str]:
    """client-go ``MetaNamespaceIndexFunc``."""
    namespace = meta(obj).get("namespace")
    return [str(namespace)] if namespace else []


def index_by_owner_uid(obj: Object) -> list[str]:
    """The UID of every owner in ``metadata.ownerReferences``."""
    return [str(ref["uid"]) for ref in meta(obj).get("ownerReferences") or [] if ref.get("uid")]


def index_by_controller_uid(obj: Object) -> list[str]:
    """The UID of the controlling owner (``controller: true``), if any."""
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("uid"):
            return [str(ref["uid"])]
    return []


def index_by_label(label: str, *, with_namespace: bool = False) -> IndexFunc:
    """Index by the value of ``label``; ``with_namespace`` makes values ``ns/value``."""

    def index(obj: Object) -> list[str]:
        metadata = meta(obj)
        value = (metadata.get("labels") or {}).get(label)
        if value is None:
            return []
        if with_namespace:
            return [f"{metadata.get('namespace', '')}/{value}"]
        return [str(value)]

    return index


@attrs.frozen
class Changes:
    """What a full replace did, in client-go order: list items first, then deletions."""

    upserted: list[tuple[Object | None, Object]] = attrs.field(factory=list)
    """``(old, new)`` per listed object, in list order; ``old`` is None for new keys."""
    deleted: list[Object] = attrs.field(factory=list)
    """Last known state of keys that the relist no longer contains."""

    @property
    def added(self) -> list[Object]:
        return [new for old, new in self.upserted if old is None]

    @property
    def updated(self) -> list[tuple[Object, Object]]:
        return [(old, new) for old, new in self.upserted if old is not None]


class Store:
    """Objects by key, plus named indexes ``index -> value -> keys``."""

    def __init__(
        self,
        indexers: Mapping[str, IndexFunc] | None = None,
        key_func: Callable[[Object], str] = object_key,
    ) -> None:
        self._key_func = key_func
        self._items: dict[str, Object] = {}
        self._indexers: dict[str, IndexFunc] = {NAMESPACE_INDEX: index_by_namespace}
        self._indices: dict[str, dict[str, set[str]]] = {NAMESPACE_INDEX: {}}
        self.add_indexers(indexers or {})

    def key(self, obj: Object) -> str:
        return self._key_func(obj)

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        """Register more indexes (existing objects are indexed immediately)."""
        for name, func in indexers.items():
            if name in self._indexers and self._indexers[name] is not func:
                raise ValueError(f"indexer {name!r} already registered")
            self._indexers[name] = func
            index: dict[str, set[str]] = {}
            for key, obj in self._items.items():
                for value in func(obj):
                    index.setdefault(value, set()).add(key)
            self._indices[name] = index

    # -- reads ------------------------------------------------------------------------------
    def get(self, key: str) -> Object | None:
        return self._items.get(key)

    def get_object(self, namespace: str | None, name: str) -> Object | None:
        return self._items.get(f"{namespace}/{name}" if namespace else name)

    def list(self) -> builtins.list[Object]:
        return list(self._items.values())

    def keys(self) -> builtins.list[str]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[Object]:
        return iter(list(self._items.values()))

    def index_keys(self, index: str, value: str) -> builtins.list[str]:
        """Keys of the objects indexed under ``value`` in ``index``."""
        try:
            return sorted(self._indices[index].get(value, ()))
        except KeyError:
            raise KeyError(f"no indexer {index!r}") from None

    def by_index(self, index: str, value: str) -> builtins.list[Object]:
        """The objects indexed under ``value`` in ``index`` (client-go ``ByIndex``)."""
        return [self._items[key] for key in self.index_keys(index, value)]

    def index_values(self, index: str) -> builtins.list[str]:
        """Every value that currently has objects in ``index``."""
        return sorted(self._indices[index])

    # -- writes -----------------------------------------------------------------------------
    def upsert(self, obj: Object) -> Object | None:
        """Add or update ``obj``; return the previous state (None if it is new)."""
        key = self._key_func(obj)
        old = self._items.get(key)
        self._items[key] = obj
        self._reindex(key, old, obj)
        return old

    def delete(self, obj: Object) -> Object | None:
        """Remove ``obj``'s key; return the last known state (None if unknown)."""
        return self.delete_key(self._key_func(obj))

    def delete_key(self, key: str) -> Object | None:
        old = self._items.pop(key, None)
        if old is not None:
            self._reindex(key, old, None)
        return old

    def replace(self, objects: Iterable[Object]) -> Changes:
        """Make the store hold exactly ``objects``; report adds, updates and vanished keys."""
        changes = Changes()
        seen: set[str] = set()
        for obj in objects:
            key = self._key_func(obj)
            seen.add(key)
            changes.upserted.append((self.upsert(obj), obj))
        for key in [k for k in self._items if k not in seen]:
            old = self.delete_key(key)
            if old is not None:
                changes.deleted.append(old)
        return changes

    def _reindex(self, key: str, old: Object | None, new: Object | None) -> None:
        for name, func in self._indexers.items():
            index = self._indices[name]
            old_values = set(func(old)) if old is not None else set()
            new_values = set(func(new)) if new is not None else set()
            for value in old_values - new_values:
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]
            for value in new_values - old_values:
                index.setdefault(value, set()).add(key)
