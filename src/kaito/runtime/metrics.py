"""Prometheus metrics with controller-runtime's names, labels and buckets.

Copied from controller-runtime ``pkg/internal/controller/metrics/metrics.go``,
``pkg/internal/metrics/workqueue.go``, ``pkg/metrics/{client_go_adapter,leaderelection}.go``,
so dashboards and alerts written for Go operators work unchanged. Everything lives in one
dedicated :data:`registry` (served at ``/metrics`` by the manager); other packages add their
own collectors to it. ``_created`` series are disabled: Go clients do not emit them.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

from kaito.runtime.workqueue import QueueMetrics, WorkQueue

disable_created_metrics()  # type: ignore[no-untyped-call]

registry = CollectorRegistry(auto_describe=True)
"""The registry the manager serves; register application metrics here too."""

ProcessCollector(registry=registry)
PlatformCollector(registry=registry)
GCCollector(registry=registry)

RECONCILE_TIME_BUCKETS = (
    [0.005, 0.01, 0.025, 0.05]
    + [round(0.1 + 0.05 * i, 2) for i in range(9)]  # 0.1 .. 0.5
    + [round(0.6 + 0.1 * i, 1) for i in range(5)]  # 0.6 .. 1.0
    + [1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0]
    + [6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0]
)
"""controller-runtime's ``reconcile_time_seconds`` buckets."""

WORKQUEUE_BUCKETS = [1e-8 * 10**i for i in range(12)]
"""``prometheus.ExponentialBuckets(10e-9, 10, 12)``: 1e-8 s .. 1e3 s."""

RESULTS = ("success", "error", "requeue", "requeue_after")

reconcile_total = Counter(
    "controller_runtime_reconcile_total",
    "Total number of reconciliations per controller",
    ["controller", "result"],
    registry=registry,
)
reconcile_errors = Counter(
    "controller_runtime_reconcile_errors_total",
    "Total number of reconciliation errors per controller",
    ["controller"],
    registry=registry,
)
terminal_reconcile_errors = Counter(
    "controller_runtime_terminal_reconcile_errors_total",
    "Total number of terminal reconciliation errors per controller",
    ["controller"],
    registry=registry,
)
reconcile_panics = Counter(
    "controller_runtime_reconcile_panics_total",
    "Total number of reconciliation panics per controller",
    ["controller"],
    registry=registry,
)
reconcile_timeouts = Counter(
    "controller_runtime_reconcile_timeouts_total",
    "Total number of reconciliation timeouts per controller",
    ["controller"],
    registry=registry,
)
reconcile_time = Histogram(
    "controller_runtime_reconcile_time_seconds",
    "Length of time per reconciliation per controller",
    ["controller"],
    buckets=RECONCILE_TIME_BUCKETS,
    registry=registry,
)
RECONCILE_WORK_BUCKETS = (
    *(0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075),
    *(0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0),
)
"""Finer at the low end than :data:`RECONCILE_TIME_BUCKETS`: a reconcile's own work is ms."""
reconcile_work = Histogram(
    "kaito_reconcile_work_seconds",
    "Time per reconciliation per controller spent outside API requests (throttling, round "
    "trips): the reconciler's own work",
    ["controller"],
    buckets=RECONCILE_WORK_BUCKETS,
    registry=registry,
)
max_concurrent_reconciles = Gauge(
    "controller_runtime_max_concurrent_reconciles",
    "Maximum number of concurrent reconciles per controller",
    ["controller"],
    registry=registry,
)
active_workers = Gauge(
    "controller_runtime_active_workers",
    "Number of currently used workers per controller",
    ["controller"],
    registry=registry,
)

workqueue_depth = Gauge(
    "workqueue_depth",
    "Current depth of workqueue by workqueue and priority",
    ["name", "controller", "priority"],
    registry=registry,
)
workqueue_adds = Counter(
    "workqueue_adds_total",
    "Total number of adds handled by workqueue",
    ["name", "controller"],
    registry=registry,
)
workqueue_queue_duration = Histogram(
    "workqueue_queue_duration_seconds",
    "How long in seconds an item stays in workqueue before being requested",
    ["name", "controller"],
    buckets=WORKQUEUE_BUCKETS,
    registry=registry,
)
workqueue_work_duration = Histogram(
    "workqueue_work_duration_seconds",
    "How long in seconds processing an item from workqueue takes.",
    ["name", "controller"],
    buckets=WORKQUEUE_BUCKETS,
    registry=registry,
)
workqueue_unfinished_work = Gauge(
    "workqueue_unfinished_work_seconds",
    "How many seconds of work has been done that is in progress and hasn't been observed by "
    "work_duration. Large values indicate stuck threads. One can deduce the number of stuck "
    "threads by observing the rate at which this increases.",
    ["name", "controller"],
    registry=registry,
)
workqueue_longest_running_processor = Gauge(
    "workqueue_longest_running_processor_seconds",
    "How many seconds has the longest running processor for workqueue been running.",
    ["name", "controller"],
    registry=registry,
)
workqueue_retries = Counter(
    "workqueue_retries_total",
    "Total number of retries handled by workqueue",
    ["name", "controller"],
    registry=registry,
)

rest_client_requests = Counter(
    "rest_client_requests_total",
    "Number of HTTP requests, partitioned by status code, method, and host.",
    ["code", "method", "host"],
    registry=registry,
)

leader_election_master_status = Gauge(
    "leader_election_master_status",
    "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, "
    "1 indicates master. 'name' is the string used to identify the lease. Please make sure "
    "to group by name.",
    ["name"],
    registry=registry,
)
leader_election_slowpath = Counter(
    "leader_election_slowpath_total",
    "Total number of slow path exercised in renewing leader leases. 'name' is the string "
    "used to identify the lease. Please make sure to group by name.",
    ["name"],
    registry=registry,
)


events_written = Counter(
    "kaito_events_written_total",
    "Kubernetes Events created (POST) by the event recorder",
    ["component"],
    registry=registry,
)
events_patched = Counter(
    "kaito_events_patched_total",
    "Existing Kubernetes Events updated with a higher count (PATCH) by the event recorder",
    ["component"],
    registry=registry,
)
events_dropped = Counter(
    "kaito_events_dropped_total",
    "Event occurrences not written when they happened. reason: buffer_full (the recorder's "
    "buffer was full), spam_filtered (the per-object spam filter held the write back; a later "
    "write of the same Event still counts it), write_failed (the API refused the write or "
    "could not be reached), shutdown (still unwritten when the flush on shutdown ran out of "
    "time)",
    ["component", "reason"],
    registry=registry,
)
EVENT_DROP_REASONS = ("buffer_full", "spam_filtered", "write_failed", "shutdown")


def init_controller_metrics(controller: str, workers: int) -> None:
    """Create every series of a controller at zero, as controller-runtime's ``initMetrics``."""
    for result in RESULTS:
        reconcile_total.labels(controller, result)
    reconcile_errors.labels(controller)
    terminal_reconcile_errors.labels(controller)
    reconcile_panics.labels(controller)
    reconcile_timeouts.labels(controller)
    reconcile_time.labels(controller)
    reconcile_work.labels(controller)
    max_concurrent_reconciles.labels(controller).set(workers)
    active_workers.labels(controller).set(0)


def queue_metrics(name: str) -> QueueMetrics:
    """Sinks for a work queue named ``name`` (label ``controller`` is the same name)."""
    return QueueMetrics(
        depth=workqueue_depth.labels(name, name, ""),
        adds=workqueue_adds.labels(name, name),
        latency=workqueue_queue_duration.labels(name, name),
        work_duration=workqueue_work_duration.labels(name, name),
        retries=workqueue_retries.labels(name, name),
    )


def track_unfinished_work(name: str, queue: WorkQueue[Any]) -> None:
    """Serve the two gauges client-go refreshes every 500 ms, computed at scrape time instead."""
    workqueue_unfinished_work.labels(name, name).set_function(queue.unfinished_work_seconds)
    workqueue_longest_running_processor.labels(name, name).set_function(
        queue.longest_running_processor_seconds
    )


def exposition() -> tuple[bytes, str]:
    """The text exposition of :data:`registry` and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST
