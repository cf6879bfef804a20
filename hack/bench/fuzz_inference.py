"""Benchmark: random request bodies against a real ``kaito-inference``; none may get a 5xx.

Builds the tiny random Llama from tests/support, starts ``kaito-inference`` under uvicorn in a
subprocess (a few output tokens per request, so that generation does not dominate), reads its
OpenAPI document and, for each generating route (``/chat``, ``/v1/chat/completions``,
``/v1/completions``), draws N bodies with hypothesis: about half schema-valid (as the schema allows,
or narrowed to what the server can serve; see tests/inference/schema_strategies.py), half
mutated (a field retyped or dropped, any JSON, random bytes, truncated JSON: mostly invalid,
a dropped optional field still valid). It posts them
``--concurrency`` at a time and prints, per route, how many were accepted (2xx), refused (4xx)
and failed (5xx, or a streamed error event with a 5xx code: must be 0), the elapsed time, and
the tracebacks in the server's log (must be 0). Exits 1 when anything failed.

    .venv/bin/python hack/bench/fuzz_inference.py [--requests 300] [--concurrency 8] [--seed 0]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.inference.helpers import kaito_inference  # noqa: E402
from tests.inference.schema_strategies import (  # noqa: E402
    ROUTES,
    body_strategies,
    encode,
    invalid_body,
)
from tests.support.tiny_model import build_tiny_model  # noqa: E402

MAX_TOKENS = 8


def draw(strategy: st.SearchStrategy[Any], count: int, seed: int) -> list[Any]:
    """``count`` examples of ``strategy`` (hypothesis's generation phase, no shrinking)."""
    drawn: list[Any] = []

    @hypothesis_seed(seed)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example: Any) -> None:
        drawn.append(example)

    collect()
    return drawn


def mixed(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[str, bytes]]:
    """``("valid", body)`` or ``("mutated", body)``, half and half."""
    kinds = {"valid": valid.map(encode), "mutated": invalid_body(valid)}

    def tagged(kind: str) -> st.SearchStrategy[tuple[str, bytes]]:
        return kinds[kind].map(lambda body: (kind, body))

    return st.sampled_from(sorted(kinds)).flatmap(tagged)


def outcome(response: httpx.Response) -> str:
    """``2xx``, ``4xx`` or ``5xx``; a 200 stream whose error event has a 5xx code is ``5xx``."""
    if response.status_code >= 500:
        return "5xx"
    if response.status_code >= 400:
        return "4xx"
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data: {"):
                code = json.loads(line[6:]).get("error", {}).get("code", 200)
                if code >= 500:
                    return "5xx"
    return "2xx"


async def fire(
    base: str, bodies: list[tuple[str, bytes]], concurrency: int
) -> tuple[collections.Counter[tuple[str, str]], list[tuple[str, bytes, str]]]:
    """Post each ``(kind, body)``; counts by (kind, outcome) and the failures."""
    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    failures: list[tuple[str, bytes, str]] = []
    gate = asyncio.Semaphore(concurrency)
    headers = {"content-type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:

        async def one(path: str, kind: str, body: bytes) -> None:
            async with gate:
                try:
                    response = await http.post(path, content=body, headers=headers)
                except httpx.TransportError as exc:
                    counts[kind, "error"] += 1
                    failures.append((kind, body, repr(exc)))
                    return
            result = outcome(response)
            counts[kind, result] += 1
            if result == "5xx":
                failures.append((kind, body, response.text[:300]))

        await asyncio.gather(*(one(path, kind, body) for path, (kind, body) in bodies))
    return counts, failures


def main(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="kaito-fuzz-"))
    model = build_tiny_model(workdir / "tiny-llama")
    vocab = int(json.loads((model / "config.json").read_text())["vocab_size"])
    log = workdir / "server.log"
    print(
        f"kaito-inference fuzz: {args.requests} bodies per route (about half schema-valid), "
        f"tiny Llama on CPU, concurrency {args.concurrency}, seed {args.seed}"
    )
    print(f"{'route':<22} {'kind':<8} {'sent':>5} {'2xx':>5} {'4xx':>5} {'5xx':>4} {'error':>5}")
    failed = 0
    total_start = time.perf_counter()
    server_args = [
        f"--model={model}",
        "--adapters-dir=/nonexistent",
        f"--max-output-tokens={MAX_TOKENS}",
        "--max-input-tokens=64",
        "--max-queue-size=64",
        "--log-level=warning",
    ]
    # the tests' starter: waits for /health, then on exit SIGTERM and no traceback in the log
    with kaito_inference(server_args, log) as base:
        openapi = httpx.get(f"{base}/openapi.json", timeout=10).json()
        valid = body_strategies(openapi, vocab_size=vocab, max_tokens=MAX_TOKENS)
        for path in ROUTES:
            drawn = draw(mixed(valid[path]), args.requests, args.seed)
            bodies = [(path, item) for item in drawn]
            start = time.perf_counter()
            counts, failures = asyncio.run(fire(base, bodies, args.concurrency))
            elapsed = time.perf_counter() - start
            for kind in ("valid", "mutated"):
                row = [counts[kind, r] for r in ("2xx", "4xx", "5xx", "error")]
                print(
                    f"{path:<22} {kind:<8} {sum(row):>5} "
                    + " ".join(f"{n:>{w}}" for n, w in zip(row, (5, 5, 4, 5), strict=True))
                )
            print(
                f"{'':<22} {len(bodies)} requests in {elapsed:.1f} s "
                f"({len(bodies) / elapsed:.0f}/s)"
            )
            for kind, body, detail in failures[:5]:
                print(f"  FAILED ({kind}): {body[:200]!r} -> {detail}")
            failed += len(failures)
    tracebacks = log.read_text(errors="replace").count("Traceback")
    print(
        f"total {time.perf_counter() - total_start:.1f} s; 5xx or errors: {failed}; "
        f"tracebacks in the server log: {tracebacks} ({log})"
    )
    return 1 if failed or tracebacks else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="bodies per route")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    sys.exit(main(parser.parse_args()))
