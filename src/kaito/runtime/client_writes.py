"""The write verbs of :class:`~kaito.runtime.client.Client`: create, replace (PUT), patch,
server-side apply, delete and delete-collection.

A mixin over the client's one request funnel (:meth:`WriteVerbs.request`), so that reads and
watches stay in :mod:`kaito.runtime.client` and each module reads as one idea. Every write
names its content type and, where it has one, its field manager; a conditional update is a PUT
whose ``metadata.resourceVersion`` the server checks (409 :class:`~kaito.runtime.errors.Conflict`
when it moved), and a JSON patch's ``test`` op does the same for patches.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from kaito.runtime import query as q
from kaito.runtime.query import PatchType
from kaito.runtime.resources import Object, ResourceType, meta


class WriteVerbs:
    """Writes, sent through :attr:`request`."""

    request: Callable[..., Awaitable[Any]]
    """The client's one request funnel, :meth:`kaito.runtime.client.Client.request`."""

    async def create(
        self,
        rt: ResourceType,
        obj: Object,
        namespace: str | None = None,
        *,
        field_manager: str | None = None,
        timeout: float | None = None,
    ) -> Object:
        """Create ``obj`` (raises :class:`~kaito.runtime.errors.AlreadyExists`)."""
        path = rt.path(q.namespace_of(rt, namespace, obj))
        return await self._send_object("POST", rt, path, obj, field_manager, timeout)

    async def replace(
        self,
        rt: ResourceType,
        obj: Object,
        *,
        subresource: str | None = None,
        field_manager: str | None = None,
        timeout: float | None = None,
    ) -> Object:
        """PUT ``obj`` (its ``metadata.resourceVersion`` makes it a conditional update), to
        ``subresource`` (e.g. ``"status"``) when given."""
        path = rt.path(q.namespace_of(rt, None, obj), str(meta(obj).get("name", "")), subresource)
        return await self._send_object("PUT", rt, path, obj, field_manager, timeout)

    async def _send_object(
        self,
        method: str,
        rt: ResourceType,
        path: str,
        obj: Object,
        field_manager: str | None,
        timeout: float | None,
    ) -> Object:
        """POST or PUT a whole object (typed with ``rt``'s apiVersion and kind)."""
        sent: Object = await self.request(
            method,
            path,
            query=q.field_manager(field_manager),
            body=q.typed(rt, obj),
            timeout=timeout,
        )
        return sent

    async def patch(
        self,
        rt: ResourceType,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: PatchType = PatchType.MERGE,
        subresource: str | None = None,
        field_manager: str | None = None,
        force: bool | None = None,
        timeout: float | None = None,
    ) -> Object:
        """PATCH with an explicit content type: JSON merge patch (the default; lists are
        replaced whole, ``None`` deletes a key), JSON patch (``PatchType.JSON``, a list of
        operations; ``{"op": "test", ...}`` gives optimistic concurrency) or strategic merge
        (built-in kinds only). ``subresource="status"`` patches the status."""
        query = q.field_manager(field_manager, force=force)
        path = rt.path(q.namespace_of(rt, namespace), name, subresource)
        patched: Object = await self.request(
            "PATCH", path, query=query, body=patch, content_type=patch_type.value, timeout=timeout
        )
        return patched

    async def apply(
        self,
        rt: ResourceType,
        obj: Object,
        *,
        field_manager: str,
        force: bool = True,
        subresource: str | None = None,
        timeout: float | None = None,
    ) -> Object:
        """Server-side apply ``obj`` as ``field_manager`` (``force`` takes over conflicts)."""
        return await self.patch(
            rt,
            str(meta(obj).get("name", "")),
            q.typed(rt, obj),
            q.namespace_of(rt, None, obj),
            patch_type=PatchType.APPLY,
            subresource=subresource,
            field_manager=field_manager,
            force=force,
            timeout=timeout,
        )

    async def delete(
        self,
        rt: ResourceType,
        name: str,
        namespace: str | None = None,
        *,
        propagation_policy: str | None = "Background",
        grace_period_seconds: int | None = None,
        preconditions: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> Object:
        """DELETE; ``propagation_policy`` is ``Background``, ``Foreground`` or ``Orphan``.

        Returns what the server answered: the object (still there, being finalized) or a
        Status. Raises :class:`~kaito.runtime.errors.NotFound` when it is already gone.
        """
        options = q.delete_options(propagation_policy, grace_period_seconds, preconditions)
        path = rt.path(q.namespace_of(rt, namespace), name)
        answer: Object = await self.request("DELETE", path, body=options, timeout=timeout)
        return answer

    async def delete_collection(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        *,
        label_selector: str,
        propagation_policy: str | None = "Background",
        timeout: float | None = None,
    ) -> Object:
        """DELETE on the collection: every object ``label_selector`` matches, in one call.

        A selector is required: an empty one would delete the whole collection.
        """
        if not label_selector.strip():
            raise ValueError(f"{rt.kind}: delete_collection needs a label selector")
        options = q.delete_options(propagation_policy)
        path = rt.path(q.namespace_of(rt, namespace))
        answer: Object = await self.request(
            "DELETE", path, query=[("labelSelector", label_selector)], body=options, timeout=timeout
        )
        return answer
