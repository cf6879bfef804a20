"""Provisioner metrics: cloud calls by method and result, their latency, NodeClaims by state.

Registered in the runtime's registry, so the provisioner's ``/metrics`` serves them next to
controller-runtime's series.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import Counter, Gauge, Histogram

from kaito.runtime.metrics import registry

cloud_requests = Counter(
    "kaito_provisioner_cloud_requests_total",
    "Cloud provider calls by method (create, get, list, delete) and result",
    ["method", "result"],
    registry=registry,
)
cloud_latency = Histogram(
    "kaito_provisioner_cloud_request_duration_seconds",
    "Latency of cloud provider calls",
    ["method"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200),
    registry=registry,
)
nodeclaims_by_state = Gauge(
    "kaito_provisioner_nodeclaims",
    "NodeClaims of the kaito nodepool by state (launching, registered, ready, failed, deleting)",
    ["state"],
    registry=registry,
)
garbage_collected = Counter(
    "kaito_provisioner_garbage_collected_instances_total",
    "Cloud instances deleted because no NodeClaim owned them",
    registry=registry,
)


@asynccontextmanager
async def timed_call(method: str) -> AsyncIterator[None]:
    """Count and time one cloud call; the result label is ``success`` or the error class."""
    started = time.monotonic()
    result = "success"
    try:
        yield
    except Exception as exc:
        result = type(exc).__name__
        raise
    finally:
        cloud_requests.labels(method, result).inc()
        cloud_latency.labels(method).observe(time.monotonic() - started)
