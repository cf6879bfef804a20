"""Benchmark: what the HTTP server costs over calling the engine directly (tiny model, CPU).

Builds the tiny random Llama from tests/support, then in alternating rounds measures
  * direct: ``TransformersEngine.generate`` awaited in this process,
  * server: ``kaito-inference`` under uvicorn in a subprocess, ``POST /v1/completions`` over HTTP,
at concurrency 1 and 8 (same request count, same token count per request, greedy, EOS ignored),
and time to first token (the first event of engine ``stream`` vs the first SSE chunk of a
streamed ``/v1/chat/completions``, which the server sends at the first token). Prints tokens/s,
the server/direct ratio (median of rounds) and TTFT percentiles.

    .venv/bin/python hack/bench/inference.py [--requests 16] [--tokens 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from kaito.inference.engines.base import SamplingParams  # noqa: E402
from kaito.inference.engines.transformers import TransformersEngine  # noqa: E402
from tests.support.tiny_model import build_tiny_model  # noqa: E402

PROMPT = "The quick brown fox jumps over the lazy dog."


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_server(model: Path) -> Iterator[str]:
    port = _free_port()
    command = [
        str(Path(sys.executable).parent / "kaito-inference"),
        f"--model={model}",
        "--host=127.0.0.1",
        f"--port={port}",
        "--adapters-dir=/nonexistent",
        "--max-concurrent-requests=1",
        "--max-queue-size=64",
        "--log-level=warning",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError("kaito-inference exited during startup")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("kaito-inference did not become healthy")
            time.sleep(0.2)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _throughput(call: Callable[[], Awaitable[int]], requests: int, concurrency: int) -> float:
    """Generated tokens per second for ``requests`` calls, ``concurrency`` at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> int:
        async with gate:
            return await call()

    start = time.perf_counter()
    tokens = await asyncio.gather(*(one() for _ in range(requests)))
    return sum(tokens) / (time.perf_counter() - start)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="kaito-bench-"))
    model = build_tiny_model(workdir / "tiny-llama")
    engine = TransformersEngine(str(model), adapters_dir="/nonexistent", max_concurrency=1)
    await engine.load()
    ids = engine.tokenize(PROMPT, add_special_tokens=True)
    params = SamplingParams(max_new_tokens=args.tokens, min_new_tokens=args.tokens, do_sample=False)
    body = {"prompt": PROMPT, "max_tokens": args.tokens, "temperature": 0, "ignore_eos": True}

    async def direct() -> int:
        completion = await engine.generate(ids, params)
        return sum(c.completion_tokens for c in completion.choices)

    messages = [{"role": "user", "content": PROMPT}]
    chat_ids = engine.tokenize(engine.render_chat(messages), add_special_tokens=False)

    async def direct_ttft() -> float:
        start = time.perf_counter()
        stream = engine.stream(chat_ids, params)
        try:
            await anext(stream)
            return time.perf_counter() - start
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    results: dict[str, dict[int, list[float]]] = {"direct": {}, "server": {}}
    ttft: dict[str, list[float]] = {"direct": [], "server": []}
    with running_server(model) as base:
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
        async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:

            async def served() -> int:
                response = await http.post("/v1/completions", json=body)
                response.raise_for_status()
                return int(response.json()["usage"]["completion_tokens"])

            chat = {
                "messages": messages,
                "max_tokens": args.tokens,
                "temperature": 0,
                "ignore_eos": True,
                "stream": True,
            }

            async def served_ttft() -> float:
                start = time.perf_counter()
                async with http.stream("POST", "/v1/chat/completions", json=chat) as response:
                    async for line in response.aiter_lines():
                        if line.startswith("data: {"):
                            return time.perf_counter() - start
                raise RuntimeError("nothing streamed")

            for warm in (direct, served):  # first calls pay for lazy initialisation
                await _throughput(warm, 4, 1)
            for _ in range(args.rounds):
                for concurrency in (1, 8):
                    for name, call in (("direct", direct), ("server", served)):
                        tps = await _throughput(call, args.requests, concurrency)
                        results[name].setdefault(concurrency, []).append(tps)
                for _ in range(args.ttft_samples):
                    ttft["direct"].append(await direct_ttft())
                    ttft["server"].append(await served_ttft())
    await engine.aclose()

    cpu = os.cpu_count()
    print(f"tiny Llama (2 layers, hidden 64), CPU x{cpu}, torch threads default")
    print(f"{args.requests} requests x {args.tokens} tokens, {args.rounds} rounds (medians)")
    print(
        f"{'concurrency':>11} {'direct tok/s':>13} {'server tok/s':>13} {'ratio':>7}  ratio range"
    )
    for concurrency in (1, 8):
        direct_runs, server_runs = results["direct"][concurrency], results["server"][concurrency]
        d, s = statistics.median(direct_runs), statistics.median(server_runs)
        ratios = [b / a for a, b in zip(direct_runs, server_runs, strict=True)]
        spread = f"{min(ratios):.3f}-{max(ratios):.3f}"
        print(f"{concurrency:>11} {d:>13.0f} {s:>13.0f} {s / d:>7.3f}  {spread}")
    print("time to first token, ms (concurrency 1):")
    for name in ("direct", "server"):
        values = [v * 1000 for v in ttft[name]]
        print(
            f"  {name:>6}: p50 {_pct(values, 0.5):.1f}  p90 {_pct(values, 0.9):.1f}  "
            f"n={len(values)}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ttft-samples", type=int, default=10)
    asyncio.run(main(parser.parse_args()))
