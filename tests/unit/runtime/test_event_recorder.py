"""EventRecorder off the reconcile path, without an API server: ``event()`` never waits, a full
buffer drops and counts, shutdown gives up after ``flush_timeout`` (on a fake clock).

The "API server" is a local socket that accepts connections and never answers, so the writer
hangs on its first request the way it would on an unreachable apiserver."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient, Configuration

from kaito.runtime import metrics
from kaito.runtime.client import Client, ClientConfig
from kaito.runtime.clock import FakeClock
from kaito.runtime.events import WARNING, EventRecorder


class BlackHole:
    """A TCP server that accepts and reads, and never says a word."""

    def __init__(self) -> None:
        self.accepted = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.append(writer)
        with contextlib.suppress(Exception):
            while await reader.read(65536):
                pass

    async def close(self) -> None:
        for writer in self._writers:
            writer.transport.abort()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@pytest.fixture
async def hung_client() -> AsyncIterator[tuple[Client, BlackHole]]:
    hole = BlackHole()
    port = await hole.start()
    configuration = Configuration()
    configuration.host = f"https://127.0.0.1:{port}"
    client = Client(ApiClient(configuration=configuration), ClientConfig(qps=0, timeout=3600))
    try:
        yield client, hole
    finally:
        await client.close()
        await hole.close()


def gizmo(name: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "resourceVersion": "7"}
    return {"apiVersion": "test/v1", "kind": "Gizmo", "metadata": meta}


def finishes_without_waiting(coro: Coroutine[Any, Any, None]) -> bool:
    """Whether ``coro`` runs to its end in one step, never suspending on anything."""
    try:
        coro.send(None)
    except StopIteration:
        return True
    coro.close()
    return False


def sample(name: str, component: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, {"component": component, **labels})
    return value or 0.0


async def until(check: Callable[[], bool], timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.001)


async def test_event_never_waits_and_a_full_buffer_drops_and_counts(
    hung_client: tuple[Client, BlackHole],
) -> None:
    client, hole = hung_client
    clock = FakeClock()
    component = f"unit-{uuid.uuid4().hex[:8]}"
    recorder = EventRecorder(client, component, queue_size=10, flush_timeout=5, clock=clock)
    for reason in metrics.EVENT_DROP_REASONS:
        assert sample("kaito_events_dropped_total", component, reason=reason) == 0
    writer = asyncio.ensure_future(recorder.run())
    await until(lambda: recorder.running)

    assert finishes_without_waiting(recorder.event(gizmo("first"), WARNING, "R", "m"))
    await until(lambda: recorder.queued == 0 and hole.accepted == 1)  # its POST hangs

    # the writer is stuck: ten distinct events fill the buffer, five more are dropped
    for i in range(15):
        assert finishes_without_waiting(recorder.event(gizmo(f"g{i}"), WARNING, "R", "m"))
    assert recorder.queued == 10
    assert sample("kaito_events_dropped_total", component, reason="buffer_full") == 5
    # repeats of what is queued take no slot: folded in, not dropped
    for _ in range(100):
        assert finishes_without_waiting(recorder.event(gizmo("g3"), WARNING, "R", "m"))
    assert recorder.queued == 10
    assert recorder.pending == 1 + 10 + 100
    assert sample("kaito_events_dropped_total", component, reason="buffer_full") == 5

    writer.cancel()  # shutdown: the flush waits flush_timeout (fake) seconds, not more
    await until(lambda: clock.waiters == 1)
    assert not writer.done()
    clock.step(5)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(writer, 10)
    assert sample("kaito_events_dropped_total", component, reason="shutdown") == 111
    assert sample("kaito_events_written_total", component) == 0
    assert recorder.pending == 0 and not recorder.running

    # stopped: still never waits, and says so in the counter
    assert finishes_without_waiting(recorder.event(gizmo("late"), WARNING, "R", "m"))
    assert sample("kaito_events_dropped_total", component, reason="shutdown") == 112


async def test_one_writer_at_a_time(hung_client: tuple[Client, BlackHole]) -> None:
    client, _ = hung_client
    recorder = EventRecorder(client, f"unit-{uuid.uuid4().hex[:8]}")
    writer = asyncio.ensure_future(recorder.run())
    await until(lambda: recorder.running)
    with pytest.raises(RuntimeError, match="already running"):
        await recorder.run()
    writer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writer
