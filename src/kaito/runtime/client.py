"""An async Kubernetes client for any resource type, on plain dicts.

A thin layer over kubernetes-asyncio's ``ApiClient`` (which keeps doing auth, TLS, kubeconfig
and in-cluster config, token refresh) that fixes its pitfalls for controllers:

* every request has a timeout, is throttled and counted, and failures are typed
  (:mod:`kaito.runtime.transport`);
* patches always carry an explicit content type (merge, JSON patch, server-side apply), since
  a dict would otherwise go out as a JSON Patch and strategic merge is refused by CRDs (415);
* responses are decoded with ``json.loads`` only, never into generated models (slow);
* watches are single-shot streams with a client-side inactivity deadline
  (:mod:`kaito.runtime.watch`); the informer's reflector owns reconnects and relists
  (kubernetes-asyncio's ``Watch`` retries 410 once).

Mirrors client-go's ``rest``/``dynamic`` clients and controller-runtime's ``client.Client``
(``pkg/client/config`` for where the config comes from).
"""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import Any

import attrs
from kubernetes_asyncio.client import ApiClient

from kaito.runtime.clock import REAL_CLOCK, Clock
from kaito.runtime.resources import Object, ResourceType, meta
from kaito.runtime.transport import ClientConfig as ClientConfig
from kaito.runtime.transport import (
    Query,
    Transport,
    in_cluster_configuration,
    kubeconfig,
)
from kaito.runtime.watch import WatchStream


class PatchType(enum.StrEnum):
    """Patch content types; strategic merge works for built-in kinds only."""

    MERGE = "application/merge-patch+json"
    JSON = "application/json-patch+json"
    STRATEGIC = "application/strategic-merge-patch+json"
    APPLY = "application/apply-patch+yaml"


@attrs.frozen
class ObjectList:
    """A list response: the items and the collection's resourceVersion."""

    items: list[Object]
    resource_version: str
    continue_token: str | None = None


def _selector(query: Query, label_selector: str | None, field_selector: str | None) -> None:
    if label_selector:
        query.append(("labelSelector", label_selector))
    if field_selector:
        query.append(("fieldSelector", field_selector))


def _field_manager(field_manager: str | None) -> Query:
    return [("fieldManager", field_manager)] if field_manager else []


def _typed(rt: ResourceType, obj: Object) -> Object:
    """``obj`` as a request body: with the type's apiVersion and kind (``obj``'s own win)."""
    return {"apiVersion": rt.api_version, "kind": rt.kind, **obj}


class Client:
    """Talks to one API server. Create with :meth:`from_kubeconfig`, :meth:`in_cluster` or
    :meth:`from_environment`; close with :meth:`close` (or ``async with``)."""

    def __init__(
        self,
        api_client: ApiClient,
        config: ClientConfig | None = None,
        *,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.transport = Transport(api_client, config or ClientConfig(), clock)
        self.config = self.transport.config
        self.host: str = self.transport.host
        """``host:port`` of the API server (the ``host`` label of request metrics)."""
        self.server: str = self.transport.server
        """The API server's URL."""

    def ca_pem(self) -> bytes:
        """The CA bundle this client verifies the API server with (PEM; empty if none)."""
        return self.transport.ca_pem()

    # -- construction ---------------------------------------------------------------------
    @classmethod
    async def from_kubeconfig(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        context: str | None = None,
        config: ClientConfig | None = None,
    ) -> Client:
        """From a kubeconfig file (default ``$KUBECONFIG`` or ``~/.kube/config``)."""
        if path is None:
            path = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or Path.home() / (
                ".kube/config"
            )
        return cls(ApiClient(configuration=await kubeconfig(path, context)), config)

    @classmethod
    def in_cluster(cls, *, config: ClientConfig | None = None) -> Client:
        """From the pod's service account token and CA (token re-read as it rotates)."""
        return cls(ApiClient(configuration=in_cluster_configuration()), config)

    @classmethod
    async def from_environment(
        cls, kubeconfig: str | os.PathLike[str] | None = None, *, config: ClientConfig | None = None
    ) -> Client:
        """controller-runtime's order: explicit kubeconfig, ``$KUBECONFIG``, in-cluster,
        ``~/.kube/config``."""
        if kubeconfig is not None or os.environ.get("KUBECONFIG"):
            return await cls.from_kubeconfig(kubeconfig, config=config)
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            return cls.in_cluster(config=config)
        return await cls.from_kubeconfig(None, config=config)

    async def close(self) -> None:
        await self.transport.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> Any:
        """Send one request and return the decoded JSON body; raise typed errors."""
        return await self.transport.request(
            method, path, query=query, body=body, content_type=content_type, timeout=timeout
        )

    # -- reads ------------------------------------------------------------------------------
    @staticmethod
    def _namespace(
        rt: ResourceType, namespace: str | None, obj: Object | None = None
    ) -> str | None:
        if not rt.namespaced:
            return None
        namespace = namespace or (meta(obj).get("namespace") if obj is not None else None)
        if not namespace:
            raise ValueError(f"{rt.kind} is namespaced: a namespace is required")
        return str(namespace)

    async def get(
        self,
        rt: ResourceType,
        name: str,
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        timeout: float | None = None,
    ) -> Object:
        """Read one object (raises :class:`~kaito.runtime.errors.NotFound`)."""
        path = rt.path(self._namespace(rt, namespace), name, subresource)
        obj: Object = await self.request("GET", path, timeout=timeout)
        return obj

    async def list_page(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
        resource_version: str | None = None,
        resource_version_match: str | None = None,
        timeout: float | None = None,
    ) -> ObjectList:
        """One page of a list (``namespace=None`` lists all namespaces)."""
        query: Query = []
        _selector(query, label_selector, field_selector)
        if limit:
            query.append(("limit", str(limit)))
        if continue_token:
            query.append(("continue", continue_token))
        if resource_version is not None:
            query.append(("resourceVersion", resource_version))
        if resource_version_match:
            query.append(("resourceVersionMatch", resource_version_match))
        body = await self.request(
            "GET", rt.path(namespace if rt.namespaced else None), query=query, timeout=timeout
        )
        items: list[Object] = body.get("items") or []
        for item in items:  # list items of built-in kinds come without apiVersion/kind
            item.setdefault("apiVersion", rt.api_version)
            item.setdefault("kind", rt.kind)
        list_meta = body.get("metadata") or {}
        return ObjectList(
            items=items,
            resource_version=str(list_meta.get("resourceVersion", "")),
            continue_token=list_meta.get("continue") or None,
        )

    async def list(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int = 500,
        resource_version: str | None = None,
        timeout: float | None = None,
    ) -> ObjectList:
        """Every item, fetched in pages of ``page_size`` (client-go's pager default is 500)."""
        items: list[Object] = []
        token: str | None = None
        while True:
            page = await self.list_page(
                rt,
                namespace,
                label_selector=label_selector,
                field_selector=field_selector,
                limit=page_size,
                continue_token=token,
                resource_version=resource_version if token is None else None,
                timeout=timeout,
            )
            items.extend(page.items)
            if not page.continue_token:
                return ObjectList(items, page.resource_version)
            token = page.continue_token

    # -- writes -----------------------------------------------------------------------------
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
        path = rt.path(self._namespace(rt, namespace, obj))
        created: Object = await self.request(
            "POST", path, query=_field_manager(field_manager), body=_typed(rt, obj), timeout=timeout
        )
        return created

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
        path = rt.path(self._namespace(rt, None, obj), str(meta(obj).get("name", "")), subresource)
        replaced: Object = await self.request(
            "PUT", path, query=_field_manager(field_manager), body=_typed(rt, obj), timeout=timeout
        )
        return replaced

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
        query = _field_manager(field_manager)
        if force is not None:
            query.append(("force", "true" if force else "false"))
        path = rt.path(self._namespace(rt, namespace), name, subresource)
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
            _typed(rt, obj),
            self._namespace(rt, None, obj),
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
        options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if propagation_policy:
            options["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if preconditions:
            options["preconditions"] = preconditions
        path = rt.path(self._namespace(rt, namespace), name)
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
        options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if propagation_policy:
            options["propagationPolicy"] = propagation_policy
        path = rt.path(self._namespace(rt, namespace))
        answer: Object = await self.request(
            "DELETE", path, query=[("labelSelector", label_selector)], body=options, timeout=timeout
        )
        return answer

    # -- watch ------------------------------------------------------------------------------
    def watch(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        timeout_seconds: int | None = None,
        allow_bookmarks: bool = True,
        label_selector: str | None = None,
        field_selector: str | None = None,
        inactivity_timeout: float = 90.0,
    ) -> WatchStream:
        """One watch stream, opened by ``async with`` and iterated with ``async for``::

            async with client.watch(rt, ns, resource_version=rv, timeout_seconds=300) as events:
                async for event in events:
                    ...

        Opening raises if the server refuses (e.g. :class:`~kaito.runtime.errors.Gone`).
        Iterating ends when the server closes the stream; it raises the typed error of an
        ``ERROR`` event, :class:`WatchInactive` when nothing (not even a bookmark) arrives for
        ``inactivity_timeout`` seconds, and :class:`~kaito.runtime.errors.TransportError` when
        the connection breaks.
        """
        query: Query = [("watch", "true")]
        _selector(query, label_selector, field_selector)
        if resource_version is not None:
            query.append(("resourceVersion", resource_version))
        if timeout_seconds is not None:
            query.append(("timeoutSeconds", str(timeout_seconds)))
        if allow_bookmarks:
            query.append(("allowWatchBookmarks", "true"))
        return WatchStream(
            self, rt.path(namespace if rt.namespaced else None), query, inactivity_timeout
        )
