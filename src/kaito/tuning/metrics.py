"""Training progress as Prometheus gauges, served on ``/metrics``.

Upstream runs a separate ``metrics_server.py`` on port 5000 that reports GPU/CPU load as JSON.
``kaito-tune`` instead exposes what a person watching a tuning Job wants to know, the step,
epoch, loss and learning rate, in the Prometheus text format on the same port, from a daemon
thread of the training process. Gauges only (no counters), so no ``_created`` series appear.
The registry is per instance, never the process-global one.
"""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest, start_http_server


class TuningMetrics:
    """The gauges of one training run and, once :meth:`serve` is called, their HTTP server."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.step = Gauge("kaito_tuning_step", "Optimizer steps completed.", registry=r)
        self.max_steps = Gauge("kaito_tuning_max_steps", "Steps the run will take.", registry=r)
        self.epoch = Gauge("kaito_tuning_epoch", "Epochs completed (fractional).", registry=r)
        self.loss = Gauge("kaito_tuning_loss", "Training loss at the last logged step.", registry=r)
        self.learning_rate = Gauge(
            "kaito_tuning_learning_rate", "Learning rate at the last logged step.", registry=r
        )
        self.examples = Gauge("kaito_tuning_train_examples", "Training examples.", registry=r)
        self.completed = Gauge(
            "kaito_tuning_completed", "1 once the adapter and the marker are written.", registry=r
        )
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def observe(
        self,
        *,
        step: int,
        epoch: float | None = None,
        loss: float | None = None,
        learning_rate: float | None = None,
    ) -> None:
        """Record one progress report."""
        self.step.set(step)
        if epoch is not None:
            self.epoch.set(epoch)
        if loss is not None:
            self.loss.set(loss)
        if learning_rate is not None:
            self.learning_rate.set(learning_rate)

    def render(self) -> bytes:
        """The exposition text, as ``/metrics`` serves it."""
        data: bytes = generate_latest(self.registry)
        return data

    def serve(self, port: int, addr: str = "0.0.0.0") -> int:
        """Serve ``/metrics`` on ``addr:port`` from a daemon thread; return the bound port.

        Port 0 binds a free port.
        """
        self._server, self._thread = start_http_server(port, addr=addr, registry=self.registry)
        bound: int = self._server.server_address[1]
        return bound

    def close(self) -> None:
        """Stop the HTTP server, if one is running."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
