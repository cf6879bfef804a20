"""What a reconciler gets and returns, as controller-runtime's ``pkg/reconcile``.

A :class:`Reconciler` gets a :class:`Request` (namespace/name) and returns a :class:`Result`;
raising :class:`TerminalError` says that retrying cannot help. :mod:`kaito.runtime.controller`
decides what each outcome means for the work queue. A :data:`Mapper` turns a watched object
into the Requests it concerns (controller-runtime's ``handler`` package), e.g.
:func:`owner_mapper`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

import attrs

from kaito.runtime.resources import Object, ResourceType, meta


@attrs.frozen
class Request:
    """What to reconcile: an object's namespace (``""`` if cluster-scoped) and name."""

    namespace: str
    name: str

    @classmethod
    def for_object(cls, obj: Object) -> Request:
        metadata = meta(obj)
        return cls(str(metadata.get("namespace") or ""), str(metadata.get("name", "")))

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    def __str__(self) -> str:
        return self.key


@attrs.frozen
class Result:
    """What to do after a successful reconcile: nothing, requeue now, or after a delay."""

    requeue: bool = False
    """Requeue with the rate limiter's backoff (deprecated upstream; prefer requeue_after)."""
    requeue_after: float = 0.0
    """Seconds after which to reconcile again (e.g. to poll something external)."""


class TerminalError(Exception):
    """A failure that retrying cannot fix: logged and counted, never requeued."""


class Reconciler(Protocol):
    """Makes the world match one object's desired state; must be safe to repeat."""

    async def reconcile(self, request: Request) -> Result: ...


Mapper = Callable[[Object], Iterable[Request]]
"""Which Requests a change of a watched object enqueues."""


def owner_mapper(owner: ResourceType, owner_namespaced: bool = True) -> Mapper:
    """Map an object to its controlling owner when that owner is of kind ``owner``."""

    def mapper(obj: Object) -> list[Request]:
        metadata = meta(obj)
        for ref in metadata.get("ownerReferences") or []:
            if not ref.get("controller"):
                continue
            group = str(ref.get("apiVersion", "")).rpartition("/")[0]
            if ref.get("kind") == owner.kind and group == owner.group:
                namespace = str(metadata.get("namespace") or "") if owner_namespaced else ""
                return [Request(namespace, str(ref.get("name", "")))]
        return []

    return mapper
