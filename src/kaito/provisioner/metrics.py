"""Provisioner metrics: cloud calls by method and result, their latency, NodeClaims by state.

Registered in the runtime's registry, so the provisioner's ``/metrics`` serves them next to
controller-runtime's series.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from kaito.runtime.conditions import find_object_condition
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
STATES = ("launching", "registered", "ready", "failed", "deleting")
for _state in STATES:
    nodeclaims_by_state.labels(_state)  # every state is exported, at 0, from the start
METHODS = ("create", "get", "list", "delete")
for _method in METHODS:
    # Exported at 0 from the start, as controller-runtime's initMetrics does: a series that
    # appears with its first observation already counted hides that call from rate(), so a
    # provisioner's first node (often its only one) never showed in the latency panel.
    cloud_requests.labels(_method, "success")
    cloud_latency.labels(_method)
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


def _condition(claim: dict[str, Any], kind: str) -> str | None:
    cond = find_object_condition(claim, kind)
    return None if cond is None else str(cond.get("status"))


def nodeclaim_state(claim: dict[str, Any]) -> str:
    """One of :data:`STATES`, from the NodeClaim's deletion timestamp and conditions."""
    if (claim.get("metadata") or {}).get("deletionTimestamp"):
        return "deleting"
    if _condition(claim, "Ready") == "True":
        return "ready"
    if _condition(claim, "Launched") == "False":
        return "failed"
    if _condition(claim, "Registered") == "True":
        return "registered"
    return "launching"


def record_nodeclaim_states(claims: Iterable[dict[str, Any]]) -> None:
    """Set ``kaito_provisioner_nodeclaims{state}`` to the counts of ``claims`` (every state,
    zeros included, so a state that empties drops to 0)."""
    counts = Tally(nodeclaim_state(claim) for claim in claims)
    for state in STATES:
        nodeclaims_by_state.labels(state).set(counts.get(state, 0))
