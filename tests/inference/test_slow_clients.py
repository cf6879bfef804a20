"""Slow and stalled clients cannot hold connections: body and header deadlines, connection cap.

A probe found 30 of 30 connections that had sent part of a body still open after 102 s. These
tests run the real ``kaito-inference`` command (uvicorn, h11) with short deadlines and talk to it
over raw sockets, the way such a client does: each waits for the server to answer and close the
connection, within a generous bound, and fails if it never does. The first tests use the app in
process to check the 408's shape on both protocols.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.inference.conftest import ClientFactory
from tests.inference.helpers import kaito_inference

DEADLINE = 2.0
"""--body-timeout and --header-timeout of the server under test (seconds)."""
MAX_CONNECTIONS = 3
BOUND = 30.0
"""How long a test waits for the server to close a connection before failing."""


# --- in process: the 408 answer ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "shape"),
    [("/chat", "detail"), ("/v1/completions", "error"), ("/v1/chat/completions", "error")],
)
async def test_a_stalled_body_gets_408_in_the_routes_shape(
    make_client: ClientFactory, path: str, shape: str
) -> None:
    never = asyncio.Event()

    async def stalled() -> AsyncIterator[bytes]:
        yield b'{"prompt": "hi", '
        await never.wait()  # the rest of the body never comes
        yield b"}"

    async with make_client(body_timeout=0.2) as client:
        try:
            response = await asyncio.wait_for(
                client.post(path, content=stalled(), headers={"content-type": "application/json"}),
                BOUND,
            )
        finally:
            never.set()
    assert response.status_code == 408, response.text
    assert response.headers["connection"] == "close"
    payload = response.json()
    message = payload["error"]["message"] if shape == "error" else payload["detail"]
    assert message == "The request body was not received within 0.2 seconds"
    if shape == "error":
        assert payload["error"]["code"] == 408


async def test_a_slow_but_complete_body_is_served(make_client: ClientFactory) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # one receive() each
        for piece in (b'{"prompt": "hi", ', b'"max_tokens": 2', b"}"):
            yield piece

    async with make_client(body_timeout=5) as client:
        response = await client.post(
            "/v1/completions", content=chunks(), headers={"content-type": "application/json"}
        )
    assert response.status_code == 200, response.text


# --- a real server ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    args = [
        f"--model={model_dir}",
        "--adapters-dir=/nonexistent",
        f"--body-timeout={DEADLINE}",
        f"--header-timeout={DEADLINE}",
        f"--max-connections={MAX_CONNECTIONS}",
        "--log-level=warning",
    ]
    with kaito_inference(args, tmp_path_factory.mktemp("log") / "server.log") as base:
        yield base


def _address(base: str) -> tuple[str, int]:
    host, port = base.removeprefix("http://").split(":")
    return host, int(port)


@contextlib.contextmanager
def connection(base: str) -> Iterator[socket.socket]:
    sock = socket.create_connection(_address(base), timeout=BOUND)
    try:
        yield sock
    finally:
        sock.close()


def read_until_closed(sock: socket.socket, *, feed: bytes = b"") -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took.

    With ``feed``, one byte of it is sent whenever the server has been silent for 0.2 s (a
    client trickling its body). Fails after :data:`BOUND` seconds.
    """
    start = time.monotonic()
    received = b""
    pending = feed
    while True:
        elapsed = time.monotonic() - start
        assert elapsed < BOUND, f"connection still open after {elapsed:.0f} s; got {received!r}"
        readable, _, _ = select.select([sock], [], [], 0.2)
        if not readable:
            if pending:
                with contextlib.suppress(OSError):
                    sock.sendall(pending[:1])
                pending = pending[1:]
            continue
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            return received, time.monotonic() - start
        received += data


def partial_post(path: str, body: bytes, length: int) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    )
    return head.encode() + body


@pytest.mark.parametrize("path", ["/chat", "/v1/completions"])
def test_a_partial_body_is_answered_408_and_closed(server: str, path: str) -> None:
    with connection(server) as sock:
        sock.sendall(partial_post(path, b'{"prompt": "', length=100))
        response, elapsed = read_until_closed(sock)
    assert response.startswith(b"HTTP/1.1 408 "), response
    assert b"not received within 2 seconds" in response
    assert elapsed >= DEADLINE * 0.9


def test_a_trickled_body_is_cut_at_the_deadline(server: str) -> None:
    """The deadline counts from the headers: a byte now and then does not extend it."""
    body = b'{"prompt": "' + b"x" * 200 + b'", "max_tokens": 1}'
    with connection(server) as sock:
        sock.sendall(partial_post("/v1/completions", b"", length=len(body)))
        response, _ = read_until_closed(sock, feed=body)
    assert response.startswith(b"HTTP/1.1 408 "), response


def test_partial_headers_are_closed(server: str) -> None:
    with connection(server) as sock:
        sock.sendall(b"POST /chat HTTP/1.1\r\nHost: test\r\nContent-Le")
        response, elapsed = read_until_closed(sock)
    assert response.startswith(b"HTTP/1.1 408 "), response
    assert elapsed >= DEADLINE * 0.9


def test_a_silent_connection_is_closed(server: str) -> None:
    with connection(server) as sock:
        response, _ = read_until_closed(sock)
    assert response == b""


def test_a_kept_alive_connection_serves_its_requests_then_closes(server: str) -> None:
    """Two pipelined requests are both served (the header deadline restarts after each
    response, and does not cut a request in progress); then the idle connection is closed."""
    request = b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n"
    with connection(server) as sock:
        sock.sendall(request * 2)
        response, _ = read_until_closed(sock)
    assert response.count(b"HTTP/1.1 200 ") == 2, response


def test_connections_beyond_the_cap_get_503_until_the_stalled_ones_are_closed(
    server: str,
) -> None:
    with contextlib.ExitStack() as stack:
        for _ in range(MAX_CONNECTIONS):
            stalled = stack.enter_context(connection(server))
            stalled.sendall(b"GET /health HTTP/1.1\r\nHost: te")
        with connection(server) as extra:
            extra.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
            response, _ = read_until_closed(extra)
        assert response.startswith(b"HTTP/1.1 503 "), response
        deadline = time.monotonic() + BOUND
        while True:  # the stalled connections are closed at their header deadline
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{server}/health", timeout=5).status_code == 200:
                    break
            assert time.monotonic() < deadline, "the cap was not freed"
            time.sleep(0.1)
