"""An async Kubernetes client for any resource type, on plain dicts.

A thin layer over kubernetes-asyncio's ``ApiClient`` (which keeps doing auth, TLS, kubeconfig
and in-cluster config, token refresh) that fixes its pitfalls for controllers:

* every request has a timeout, is throttled and counted, and failures are typed
  (:mod:`kaito.runtime.transport`);
* patches always carry an explicit content type (merge, JSON patch, server-side apply), since
  a dict would otherwise go out as a JSON Patch and strategic merge is refused by CRDs (415);
  how calls become paths, queries and bodies is :mod:`kaito.runtime.query`;
* lists page as client-go's pager does (:mod:`kaito.runtime.pager`);
* responses are decoded with ``json.loads`` only, never into generated models (slow);
* watches are single-shot streams with a client-side inactivity deadline
  (:mod:`kaito.runtime.watch`); the informer's reflector owns reconnects and relists
  (kubernetes-asyncio's ``Watch`` retries 410 once).

Mirrors client-go's ``rest``/``dynamic`` clients and controller-runtime's ``client.Client``
(``pkg/client/config`` for where the config comes from).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable
from pathlib import Path

from kubernetes_asyncio.client import ApiClient

from kaito.runtime import query as q
from kaito.runtime.client_writes import WriteVerbs
from kaito.runtime.clock import REAL_CLOCK, Clock
from kaito.runtime.pager import ObjectList as ObjectList
from kaito.runtime.pager import list_all
from kaito.runtime.query import PatchType as PatchType
from kaito.runtime.resources import Object, ResourceType
from kaito.runtime.transport import ClientConfig as ClientConfig
from kaito.runtime.transport import (
    Transport,
    in_cluster_configuration,
    kubeconfig,
)
from kaito.runtime.watch import WatchStream


class Client(WriteVerbs):
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
        self.request = self.transport.request
        """Send one request and return the decoded JSON body; raise typed errors
        (:meth:`kaito.runtime.transport.Transport.request`, the one funnel every verb uses)."""
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

    # -- reads ------------------------------------------------------------------------------
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
        path = rt.path(q.namespace_of(rt, namespace), name, subresource)
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
        query = q.list_query(
            label_selector,
            field_selector,
            limit=limit,
            continue_token=continue_token,
            resource_version=resource_version,
            resource_version_match=resource_version_match,
        )
        body = await self.request(
            "GET", q.collection_path(rt, namespace), query=query, timeout=timeout
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
        page_size: int | None = 500,
        resource_version: str | None = None,
        timeout: float | None = None,
    ) -> ObjectList:
        """Every item, fetched in pages of ``page_size`` (client-go's pager default is 500;
        ``None``: one request). ``resource_version`` applies to the first page; an expired
        continue token falls back to one full list at it (:func:`~kaito.runtime.pager.list_all`).
        """

        def page(
            *, limit: int | None, continue_token: str | None, resource_version: str | None
        ) -> Awaitable[ObjectList]:
            return self.list_page(
                rt,
                namespace,
                label_selector=label_selector,
                field_selector=field_selector,
                limit=limit,
                continue_token=continue_token,
                resource_version=resource_version,
                timeout=timeout,
            )

        return await list_all(page, page_size=page_size, resource_version=resource_version)

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
        query = q.watch_query(
            label_selector,
            field_selector,
            resource_version=resource_version,
            timeout_seconds=timeout_seconds,
            allow_bookmarks=allow_bookmarks,
        )
        return WatchStream(self, q.collection_path(rt, namespace), query, inactivity_timeout)
