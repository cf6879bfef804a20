"""Prometheus metrics of the inference server (``GET /metrics``).

Upstream's transformers server answers ``/metrics`` with GPU/CPU JSON; its vLLM server with
Prometheus text. We serve Prometheus text from a registry owned by the app (so several apps can
live in one process, as in tests): HTTP requests and latency by route template and status code,
prompt and generated tokens, time to first token, requests in flight, and upstream's
``kaito_ratelimit_rejected_total`` for 429s. Route labels use the matched route's template and
``unmatched`` for everything else, so scanners cannot explode the label cardinality.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

disable_created_metrics()  # type: ignore[no-untyped-call]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
TTFT_BUCKETS = (
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    10.0,
)


class InferenceMetrics:
    """The server's metric families, registered in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "kaito_inference_requests_total",
            "HTTP requests by route and status code.",
            ["route", "code"],
            registry=r,
        )
        self.latency = Histogram(
            "kaito_inference_request_duration_seconds",
            "HTTP request latency (until the last byte of the response) by route and code.",
            ["route", "code"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.prompt_tokens = Counter(
            "kaito_inference_prompt_tokens", "Prompt tokens processed.", registry=r
        )
        self.generated_tokens = Counter(
            "kaito_inference_generation_tokens", "Tokens generated.", registry=r
        )
        self.ttft = Histogram(
            "kaito_inference_time_to_first_token_seconds",
            "Time from request arrival to the first generated token.",
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "kaito_inference_requests_in_flight",
            "Generation requests admitted and not finished (running or queued).",
            registry=r,
        )
        self.running = Gauge(
            "kaito_inference_requests_running",
            "Generations executing right now (the rest of the in-flight requests wait).",
            registry=r,
        )
        self.rejected = Counter(
            "kaito_ratelimit_rejected",
            "Requests rejected with 429 because the queue was full.",
            registry=r,
        )
        self.model_loaded = Gauge(
            "kaito_inference_model_loaded", "1 once the model is loaded.", registry=r
        )

    def track(self, in_flight: Callable[[], float], running: Callable[[], float]) -> None:
        self.in_flight.set_function(in_flight)
        self.running.set_function(running)


class MetricsMiddleware:
    """Counts every HTTP request by route template and status code (pure ASGI)."""

    def __init__(self, app: ASGIApp, metrics: InferenceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            code = str(status)
            self.metrics.requests.labels(label, code).inc()
            self.metrics.latency.labels(label, code).observe(time.perf_counter() - start)
