"""One API server connection: requests with timeouts, throttling, metrics and typed errors.

The layer under :class:`~kaito.runtime.client.Client` (and its watch streams):

* every request has a timeout (kubernetes-asyncio sets none by default);
* client-side QPS/burst throttling like client-go's ``rest.Config{QPS, Burst}``;
* every request is counted in ``rest_client_requests_total{code,method,host}``;
* failures become typed exceptions (:mod:`kaito.runtime.errors`), with ``Retry-After``;
* kubeconfig and in-cluster configuration come from kubernetes-asyncio (auth, TLS, token
  refresh), read as controller-runtime's ``pkg/client/config`` does.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aiohttp
import attrs
from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.config import load_incluster_config, load_kube_config

from kaito.runtime import metrics
from kaito.runtime.api_wait import ApiWait
from kaito.runtime.clock import Clock
from kaito.runtime.errors import ApiError, TransportError, error_from_status
from kaito.runtime.ratelimit import TokenBucket

Query = list[tuple[str, str]]


@attrs.frozen
class ClientConfig:
    """Client-side behaviour that kubeconfig does not say."""

    qps: float = 30.0
    """Sustained requests per second; 0 disables client-side throttling (controller-runtime's
    default, relying on API priority and fairness). Kaito runs with 30."""
    burst: int = 50
    """Requests allowed at once above ``qps``."""
    timeout: float = 30.0
    """Seconds for one whole request (connect to last byte); watches use ``connect_timeout``."""
    connect_timeout: float = 10.0
    """Seconds to establish a connection, for watches."""
    user_agent: str = "kaito"


async def kubeconfig(path: str | os.PathLike[str], context: str | None = None) -> Configuration:
    """The connection a kubeconfig file describes (its current context, or ``context``)."""
    configuration = Configuration()
    await load_kube_config(
        config_file=str(path),
        context=context,
        client_configuration=configuration,
        persist_config=False,
    )
    return configuration


def in_cluster_configuration() -> Configuration:
    """The pod's service account token and CA (the token is re-read as it rotates)."""
    configuration = Configuration()
    load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    return configuration


class Transport:
    """Sends requests to one API server through kubernetes-asyncio's ``ApiClient``."""

    def __init__(self, api_client: ApiClient, config: ClientConfig, clock: Clock) -> None:
        self._api = api_client
        self.config = config
        self._api.user_agent = config.user_agent
        self._limiter = TokenBucket(config.qps, config.burst, clock) if config.qps > 0 else None
        self.server = str(api_client.configuration.host)
        self.host = urlparse(self.server).netloc

    def backlog(self) -> float:
        """Seconds a request made now would wait for the client's rate limit (0: none)."""
        return self._limiter.backlog() if self._limiter is not None else 0.0

    def ca_pem(self) -> bytes:
        path = self._api.configuration.ssl_ca_cert
        return Path(path).read_bytes() if path else b""

    async def close(self) -> None:
        await self._api.close()

    async def send(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | aiohttp.ClientTimeout | None = None,
    ) -> aiohttp.ClientResponse:
        """Throttle, send, count; the response is the caller's to read and release."""
        if self._limiter is not None:
            await self._limiter.wait()
        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            response: aiohttp.ClientResponse = await self._api.call_api(
                path,
                method,
                query_params=query or [],
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=timeout if timeout is not None else self.config.timeout,
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            metrics.rest_client_requests.labels("<error>", method, self.host).inc()
            raise TransportError(f"{method} {path}: {exc!r}") from exc
        metrics.rest_client_requests.labels(str(response.status), method, self.host).inc()
        return response

    @staticmethod
    def error(response: aiohttp.ClientResponse, data: bytes) -> ApiError:
        """The typed error of a non-2xx response whose body is ``data``."""
        try:
            status = json.loads(data) if data else {}
        except ValueError:
            status = {"message": data.decode(errors="replace")[:2000]}
        retry_after: float | None = None
        header = response.headers.get("Retry-After")
        if header:
            with contextlib.suppress(ValueError):
                retry_after = float(header)
        if not isinstance(status, dict):
            status = {}
        return error_from_status(response.status, status, retry_after=retry_after)

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
        with ApiWait.request():  # throttling and the round trip, not the decoding
            response = await self.send(
                method, path, query=query, body=body, content_type=content_type, timeout=timeout
            )
            try:
                data = await response.read()
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise TransportError(f"{method} {path}: {exc!r}") from exc
            finally:
                response.release()
        if not 200 <= response.status < 300:
            raise self.error(response, data)
        return json.loads(data) if data else None
