"""One watch stream: the events of a single ``?watch=true`` request, as they arrive.

Single-shot, with a client-side inactivity deadline: the informer's reflector owns
reconnects and relists. :meth:`kaito.runtime.client.Client.watch` opens one.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import aiohttp
import attrs

from kaito.runtime.errors import TransportError, error_from_status
from kaito.runtime.resources import Object

if TYPE_CHECKING:
    from kaito.runtime.client import Client
    from kaito.runtime.transport import Query


class WatchInactive(TransportError):
    """No event or bookmark arrived within the inactivity deadline: the stream is presumed dead."""


@attrs.frozen
class WatchEvent:
    """One watch event: ``ADDED``, ``MODIFIED``, ``DELETED`` or ``BOOKMARK``."""

    type: str
    object: Object


class WatchStream:
    """An open watch: an async context manager and an async iterator of :class:`WatchEvent`."""

    def __init__(self, client: Client, path: str, query: Query, inactivity_timeout: float) -> None:
        self._client = client
        self.path = path
        self._query = query
        self._inactivity_timeout = inactivity_timeout
        self._response: aiohttp.ClientResponse | None = None

    async def __aenter__(self) -> WatchStream:
        await self.open()
        return self

    async def open(self) -> None:
        """Send the watch request; raise if the server does not answer 200."""
        connect = self._client.config.connect_timeout
        timeout = aiohttp.ClientTimeout(total=None, connect=connect, sock_connect=connect)
        response = await self._client.transport.send(
            "GET", self.path, query=self._query, timeout=timeout
        )
        if response.status != 200:
            try:
                data = await response.read()
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise TransportError(f"watch {self.path}: {exc!r}") from exc
            finally:
                response.close()
            raise self._client.transport.error(response, data)
        self._response = response

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the connection (a watch connection cannot go back to the pool)."""
        if self._response is not None:
            self._response.close()
            self._response = None

    def __aiter__(self) -> WatchStream:
        return self

    async def __anext__(self) -> WatchEvent:
        if self._response is None:
            raise StopAsyncIteration
        while True:
            try:
                async with asyncio.timeout(self._inactivity_timeout):
                    line = await self._response.content.readline()
            except TimeoutError as exc:
                raise WatchInactive(
                    f"watch {self.path}: silent for {self._inactivity_timeout}s"
                ) from exc
            except (aiohttp.ClientError, OSError) as exc:
                raise TransportError(f"watch {self.path}: {exc!r}") from exc
            if not line:
                raise StopAsyncIteration
            if not line.endswith(b"\n"):  # the connection dropped in the middle of an event
                raise TransportError(f"watch {self.path}: stream cut mid-event")
            if line.strip():
                break
        event = json.loads(line)
        kind, obj = event.get("type", ""), event.get("object") or {}
        if kind == "ERROR":
            raise error_from_status(int(obj.get("code") or 500), obj)
        return WatchEvent(kind, obj)
