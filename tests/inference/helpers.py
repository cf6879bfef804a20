"""Helpers for the inference tests: SSE parsing, metric lookup, polling, a server process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families


def parse_sse(text: str) -> list[Any]:
    """Events of a ``text/event-stream`` body: decoded JSON, or the string ``[DONE]``."""
    events: list[Any] = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        assert block.startswith("data: "), block
        data = block[len("data: ") :]
        events.append(data if data == "[DONE]" else json.loads(data))
    return events


def metric(text: str, name: str, **labels: str) -> float:
    """Value of sample ``name`` with ``labels`` in Prometheus text, 0.0 when absent."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return response.text


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def kaito_inference(
    args: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None
) -> Iterator[str]:
    """``kaito-inference ARGS --host 127.0.0.1 --port P`` until it is healthy; yields its URL.

    On exit it is stopped with SIGTERM and must exit cleanly with no traceback in its log.
    """
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "kaito-inference"),
        *args,
        "--host=127.0.0.1",
        f"--port={port}",
    ]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, log_path.read_text()
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                assert time.monotonic() < deadline, "server did not become healthy"
                time.sleep(0.1)
            yield base
            proc.send_signal(signal.SIGTERM)
            # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells why
            assert proc.wait(timeout=20) in (0, -signal.SIGTERM)
            output = log_path.read_text()
            assert "Traceback" not in output, output
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
