"""The streaming response releases its resources even when the client is gone before the body."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.requests import ClientDisconnect

from kaito.inference.sse import DONE, ClosingStreamingResponse, sse_event


async def test_on_close_runs_when_the_body_never_starts() -> None:
    closed: list[str] = []
    started: list[bool] = []

    async def body() -> AsyncIterator[bytes]:
        started.append(True)
        yield b"never sent"

    async def on_close() -> None:
        closed.append("closed")

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        raise OSError("connection reset by peer")

    response = ClosingStreamingResponse(body(), on_close=on_close)
    scope = {"type": "http", "asgi": {"spec_version": "2.4"}, "method": "POST"}
    with pytest.raises(ClientDisconnect):
        await response(scope, receive, send)
    assert closed == ["closed"]
    assert started == []


def test_sse_framing() -> None:
    assert sse_event({"a": 1}) == b'data: {"a":1}\n\n'
    assert DONE == b"data: [DONE]\n\n"
