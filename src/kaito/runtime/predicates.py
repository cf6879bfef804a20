"""Event filters applied before a watch enqueues anything.

Mirrors controller-runtime ``pkg/predicate``: a predicate answers create/update/delete with
True (let it through) or False (drop it). ``GENERATION_CHANGED`` drops updates that did not
touch ``metadata.generation`` (status-only writes, resyncs); a label-selector predicate keeps
only matching objects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

import attrs

from kaito.runtime.resources import Object, meta


class Predicate(Protocol):
    """Decides whether an event should reach the work queue."""

    def create(self, obj: Object) -> bool: ...
    def update(self, old: Object, new: Object) -> bool: ...
    def delete(self, obj: Object) -> bool: ...


@attrs.frozen
class Funcs:
    """A predicate from optional functions; a missing one lets everything through."""

    on_create: Callable[[Object], bool] | None = None
    on_update: Callable[[Object, Object], bool] | None = None
    on_delete: Callable[[Object], bool] | None = None

    def create(self, obj: Object) -> bool:
        return self.on_create(obj) if self.on_create else True

    def update(self, old: Object, new: Object) -> bool:
        return self.on_update(old, new) if self.on_update else True

    def delete(self, obj: Object) -> bool:
        return self.on_delete(obj) if self.on_delete else True


def _changed(path: str) -> Callable[[Object, Object], bool]:
    def changed(old: Object, new: Object) -> bool:
        return meta(old).get(path) != meta(new).get(path)

    return changed


GENERATION_CHANGED: Predicate = Funcs(on_update=_changed("generation"))
"""Updates only when ``metadata.generation`` changed (controller-runtime
``GenerationChangedPredicate``)."""

RESOURCE_VERSION_CHANGED: Predicate = Funcs(on_update=_changed("resourceVersion"))
"""Drops resync re-deliveries (same resourceVersion)."""

LABELS_CHANGED: Predicate = Funcs(on_update=_changed("labels"))
ANNOTATIONS_CHANGED: Predicate = Funcs(on_update=_changed("annotations"))


def label_selector(match_labels: Mapping[str, str]) -> Predicate:
    """Only objects whose labels include every ``key: value`` of ``match_labels``."""

    def matches(obj: Object) -> bool:
        labels = meta(obj).get("labels") or {}
        return all(labels.get(key) == value for key, value in match_labels.items())

    return Funcs(matches, lambda _old, new: matches(new), matches)


def any_of(*predicates: Predicate) -> Predicate:
    """True when at least one predicate is (controller-runtime ``predicate.Or``)."""
    return Funcs(
        lambda o: any(p.create(o) for p in predicates),
        lambda old, new: any(p.update(old, new) for p in predicates),
        lambda o: any(p.delete(o) for p in predicates),
    )


def all_of(*predicates: Predicate) -> Predicate:
    """True when every predicate is (controller-runtime ``predicate.And``)."""
    return Funcs(
        lambda o: all(p.create(o) for p in predicates),
        lambda old, new: all(p.update(old, new) for p in predicates),
        lambda o: all(p.delete(o) for p in predicates),
    )
