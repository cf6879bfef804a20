"""Bounds on what a slow or stalled client can hold: a deadline for headers and for bodies.

uvicorn waits for a request's headers and body as long as the client keeps the connection
open: a probe left 30 connections that had sent part of a body open for minutes, each holding
a socket and a request task, and enough of them exhaust the server. Two deadlines fix that:

* :class:`BodyTimeoutMiddleware` (ASGI) gives a request ``body_timeout`` seconds, from the
  arrival of its headers, to deliver its whole body. Past it the body read raises an HTTP 408,
  answered in the route's error shape with ``Connection: close`` (uvicorn then closes the
  connection: the rest of the body will not be read).
* :func:`h11_protocol` is uvicorn's h11 protocol with a header deadline: a connection has
  ``header_timeout`` seconds, from being opened or from the end of its previous response, to
  deliver the next request's headers, else it is closed (with a 408 if part of a request came).
  uvicorn's own keep-alive timeout restarts with every byte, so a trickle defeats it.

The number of connections is capped with uvicorn's ``limit_concurrency`` (see ``__main__``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_LATE_HEADERS = b"Request headers not received in time"
TIMEOUT_408 = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_LATE_HEADERS), _LATE_HEADERS)
)
"""Written as is: h11 cannot answer a request whose headers it has not parsed."""


class BodyTimeoutMiddleware:
    """Raise a 408 from ``receive`` when the body is not complete ``timeout`` seconds after the
    request's headers arrived (pure ASGI; once the body is in, ``receive`` is not timed)."""

    def __init__(self, app: ASGIApp, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        complete = False

        async def timed_receive() -> Message:
            nonlocal complete
            if complete:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(
                    408, f"The request body was not received within {self.timeout:g} seconds"
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        await self.app(scope, timed_receive, send)


def h11_protocol(header_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's ``H11Protocol`` closing connections whose request headers are late."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderDeadlineProtocol(H11Protocol):
        _header_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def handle_events(self) -> None:
            cycle = self.cycle
            super().handle_events()
            if self.cycle is not cycle:  # a request's headers arrived
                self._disarm()

        def on_response_complete(self) -> None:
            cycle = self.cycle
            super().on_response_complete()  # may start a pipelined request
            if self.cycle is cycle and not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._header_deadline = self.loop.call_later(header_timeout, self._expire)

        def _disarm(self) -> None:
            if self._header_deadline is not None:
                self._header_deadline.cancel()
                self._header_deadline = None

        def _expire(self) -> None:
            self._header_deadline = None
            if self.transport.is_closing():
                return
            if self.conn.trailing_data[0]:  # part of a request came
                self.transport.write(TIMEOUT_408)
            self.transport.close()

    return HeaderDeadlineProtocol
