"""Probe and metrics endpoints: ``/healthz``, ``/readyz`` and ``/metrics`` over plain HTTP.

Mirrors controller-runtime ``pkg/healthz`` (named checks; ``200 ok`` or ``500`` listing what
failed as ``[-]name failed: reason``; ``?verbose`` lists every check) and
``pkg/metrics/server`` (Prometheus text exposition of :data:`kaito.runtime.metrics.registry`).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from kaito.runtime import metrics

log = logging.getLogger(__name__)

Check = Callable[[], bool | Awaitable[bool]]
"""A check returns (or awaits) True when healthy; False or an exception means unhealthy."""


def ping() -> bool:
    """controller-runtime ``healthz.Ping``: healthy while the process answers."""
    return True


class Checks:
    """Named health checks for one endpoint."""

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}

    def add(self, name: str, check: Check) -> None:
        if name in self._checks:
            raise ValueError(f"check {name!r} already registered")
        self._checks[name] = check

    async def run(self) -> tuple[bool, list[str]]:
        """(all healthy, one ``[+]name ok`` / ``[-]name failed: why`` line per check)."""
        healthy = True
        lines: list[str] = []
        for name, check in self._checks.items():
            try:
                outcome = check()
                ok = await outcome if inspect.isawaitable(outcome) else outcome
                reason = "" if ok else "check returned false"
            except Exception as exc:
                ok, reason = False, str(exc) or type(exc).__name__
            healthy = healthy and bool(ok)
            lines.append(f"[+]{name} ok" if ok else f"[-]{name} failed: {reason}")
        return healthy, lines


class HttpEndpoints:
    """An aiohttp server for some of ``/healthz``, ``/readyz`` and ``/metrics``."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        healthz: Checks | None = None,
        readyz: Checks | None = None,
        serve_metrics: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self._app = web.Application()
        self.paths: list[str] = []
        if healthz is not None:
            self._app.router.add_get("/healthz", self._probe(healthz, "healthz"))
            self.paths.append("/healthz")
        if readyz is not None:
            self._app.router.add_get("/readyz", self._probe(readyz, "readyz"))
            self.paths.append("/readyz")
        if serve_metrics:
            self._app.router.add_get("/metrics", self._metrics)
            self.paths.append("/metrics")
        self._runner: web.AppRunner | None = None

    @staticmethod
    def _probe(checks: Checks, name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            healthy, lines = await checks.run()
            if healthy and "verbose" not in request.query:
                return web.Response(text="ok")
            verdict = f"{name} check passed" if healthy else f"{name} check failed"
            return web.Response(text="\n".join([*lines, verdict]), status=200 if healthy else 500)

        return handle

    @staticmethod
    async def _metrics(request: web.Request) -> web.Response:
        body, content_type = metrics.exposition()
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    async def start(self) -> int:
        """Start listening; returns the bound port (useful with port 0)."""
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        addresses = self._runner.addresses
        if addresses:
            self.port = int(addresses[0][1])
        log.info("serving %s on %s:%d", ", ".join(self.paths), self.host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
