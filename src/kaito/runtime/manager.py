"""The manager: runs informers, controllers, leader election, probes and metrics as one unit.

Mirrors controller-runtime ``pkg/manager`` (``internal.go``):

* the shared informer cache starts first, on every replica, so standbys keep warm caches;
* controllers (and runnables that need leadership) start only once the Lease is ours; each
  waits for its informers to sync and fails clearly after ``cache_sync_timeout``;
* runnables that need no leadership (e.g. the webhook server) run on every replica;
  on SIGTERM they keep serving for ``shutdown_delay`` seconds (while the controllers stop and
  the Lease is released at once), so that a pod being deleted still answers the requests
  kube-proxy sends it until its endpoint is gone, and ``/readyz`` fails from the first
  moment of the shutdown;
* ``/healthz`` and ``/readyz`` (ping, plus "informers synced" on readyz) and ``/metrics``;
* SIGTERM/SIGINT → graceful stop: controllers stop taking work, in-flight reconciles get
  ``graceful_shutdown_timeout`` seconds, then the Lease is released;
* a lost Lease skips the graceful part: :meth:`Manager.run` raises
  :class:`~kaito.runtime.leader.LeaderElectionLost` and the process should exit non-zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping

from kaito.runtime.cache import ByObject, InformerCache
from kaito.runtime.client import Client
from kaito.runtime.clock import REAL_CLOCK, Clock
from kaito.runtime.controller import Controller
from kaito.runtime.health import Checks, HttpEndpoints, ping
from kaito.runtime.leader import LeaderElectionConfig, LeaderElector
from kaito.runtime.reflector import ReflectorConfig
from kaito.runtime.resources import ResourceType

log = logging.getLogger(__name__)

Runnable = Callable[[], Awaitable[None]]


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "0.0.0.0", int(port)


class Manager:
    """Owns the client, the informer cache and every controller of one process."""

    def __init__(
        self,
        client: Client,
        *,
        leader_election: LeaderElectionConfig | None = None,
        metrics_address: str | None = "0.0.0.0:8080",
        health_address: str | None = "0.0.0.0:8081",
        graceful_shutdown_timeout: float = 30.0,
        shutdown_delay: float = 0.0,
        sync_period: float | None = 10 * 3600.0,
        reflector_config: ReflectorConfig | None = None,
        cache_by_object: Mapping[ResourceType, ByObject] | None = None,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.client = client
        self.cache = InformerCache(
            client,
            resync_period=sync_period,
            reflector_config=reflector_config,
            by_object=cache_by_object,
            clock=clock,
        )
        self.elector = LeaderElector(client, leader_election, clock) if leader_election else None
        self.graceful_shutdown_timeout = graceful_shutdown_timeout
        self.shutdown_delay = shutdown_delay
        self._clock = clock
        self.healthz = Checks()
        self.readyz = Checks()
        self.healthz.add("ping", ping)
        self.readyz.add("ping", ping)
        self.readyz.add("informers", lambda: self.cache.has_synced)
        self.readyz.add("not-stopping", lambda: self._stop is None or not self._stop.is_set())
        self._metrics_address = metrics_address
        self._health_address = health_address
        self.endpoints: list[HttpEndpoints] = []
        self.controllers: list[Controller] = []
        self._runnables: list[tuple[Runnable, bool]] = []
        self._stop: asyncio.Event | None = None
        self.elected = asyncio.Event()
        """Set once this replica leads (at once when leader election is off)."""

    # -- assembly ---------------------------------------------------------------------------
    def add(self, controller: Controller) -> Controller:
        """Register a controller (its watches join the shared informers now)."""
        controller.bind(self.cache)
        self.controllers.append(controller)
        return controller

    def add_runnable(self, runnable: Runnable, *, needs_leader: bool = False) -> None:
        """Run ``runnable()`` with the manager; it is cancelled on stop."""
        self._runnables.append((runnable, needs_leader))

    @property
    def is_leader(self) -> bool:
        return self.elected.is_set()

    def stop(self) -> None:
        """Ask :meth:`run` to shut down gracefully (what SIGTERM does)."""
        if self._stop is not None:
            self._stop.set()

    # -- running ----------------------------------------------------------------------------
    async def run(self, *, handle_signals: bool = True) -> None:
        """Run until :meth:`stop` (or SIGTERM/SIGINT); raise if leadership is lost or a
        controller cannot start."""
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
        for sig in signals:
            loop.add_signal_handler(sig, self.stop)
        background: list[asyncio.Task[None]] = []
        leading: asyncio.Task[None] | None = None
        try:
            await self._start_endpoints()
            self.cache.start()
            background = [
                asyncio.ensure_future(runnable())
                for runnable, needs_leader in self._runnables
                if not needs_leader
            ]
            leading = asyncio.ensure_future(self._lead())
            stopping = asyncio.ensure_future(self._stop.wait())
            done, _ = await asyncio.wait(
                {leading, stopping, *background}, return_when=asyncio.FIRST_COMPLETED
            )
            stopping.cancel()
            for task in done:
                if task is not stopping and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            serve_until = self._clock.now() + self.shutdown_delay
            await self._shutdown_gracefully(leading)
            if background and (left := serve_until - self._clock.now()) > 0:
                log.info("manager: serving for %.1fs more while traffic moves away", left)
                await self._clock.sleep(left)
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
            for task in [*background, *([leading] if leading else [])]:
                task.cancel()
            for task in [*background, *([leading] if leading else [])]:
                with contextlib.suppress(BaseException):
                    await task
            await self.cache.stop()
            for endpoint in self.endpoints:
                await endpoint.stop()
            self.endpoints.clear()

    async def _lead(self) -> None:
        if self.elector is not None:
            await self.elector.acquire()
        self.elected.set()
        tasks = [asyncio.ensure_future(c.run()) for c in self.controllers]
        tasks += [asyncio.ensure_future(r()) for r, needs_leader in self._runnables if needs_leader]
        if self.elector is not None:
            tasks.append(asyncio.ensure_future(self.elector.hold()))
        if not tasks:  # nothing needs leadership: lead (elected stays set) until stopped
            tasks.append(asyncio.ensure_future(_forever()))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            self.elected.clear()
            for task in tasks:
                task.cancel()

    async def _shutdown_gracefully(self, leading: asyncio.Task[None]) -> None:
        log.info("manager: stopping; in-flight reconciles get %ss", self.graceful_shutdown_timeout)
        for controller in self.controllers:
            controller.stop()
        deadline = asyncio.get_running_loop().time() + self.graceful_shutdown_timeout
        for controller in self.controllers:
            remaining = max(0.0, deadline - asyncio.get_running_loop().time())
            await controller.wait_stopped(remaining)
        leading.cancel()
        with contextlib.suppress(BaseException):
            await leading
        if self.elector is not None and self.elector.config.release_on_cancel:
            await self.elector.release()
        self.elected.clear()

    async def _start_endpoints(self) -> None:
        wanted: dict[str, dict[str, bool]] = {}
        if self._metrics_address:
            wanted.setdefault(self._metrics_address, {})["metrics"] = True
        if self._health_address:
            wanted.setdefault(self._health_address, {})["health"] = True
        for address, kinds in wanted.items():
            host, port = _split(address)
            health = kinds.get("health", False)
            endpoint = HttpEndpoints(
                host,
                port,
                healthz=self.healthz if health else None,
                readyz=self.readyz if health else None,
                serve_metrics=kinds.get("metrics", False),
            )
            await endpoint.start()
            self.endpoints.append(endpoint)

    def endpoint_port(self, path: str) -> int:
        """The bound port of the server answering ``path`` (``/metrics``, ``/healthz``...)."""
        for endpoint in self.endpoints:
            if path in endpoint.paths:
                return endpoint.port
        raise KeyError(path)


async def _forever() -> None:
    await asyncio.Event().wait()
