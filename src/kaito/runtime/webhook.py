"""An HTTPS server for validating and mutating admission webhooks (AdmissionReview v1).

Mirrors controller-runtime ``pkg/webhook`` (``admission.Handler`` per path, ``Allowed``/
``Denied`` responses with warnings and JSON patches) plus the certificate plumbing
Kaito does itself: a certificate generated at start (or read from files or a Secret) whose CA
is patched into the named Validating/MutatingWebhookConfiguration. Handlers get the
AdmissionReview ``request`` dict and return an :class:`AdmissionResponse`; an exception in a
handler answers ``allowed: false`` with code 500 rather than crashing the server.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs
from aiohttp import web

from kaito.runtime.backoff import Backoff
from kaito.runtime.client import Client, PatchType
from kaito.runtime.clock import REAL_CLOCK, Clock
from kaito.runtime.errors import ApiError, NotFound
from kaito.runtime.resources import (
    MUTATING_WEBHOOK_CONFIGURATION,
    VALIDATING_WEBHOOK_CONFIGURATION,
    ResourceType,
)
from kaito.runtime.tls import TLSMaterial

log = logging.getLogger(__name__)


@attrs.frozen
class AdmissionResponse:
    """The verdict on one admission request."""

    allowed: bool
    message: str = ""
    """Shown to the user when denied (``kubectl`` prints it after ``denied the request:``)."""
    warnings: list[str] = attrs.field(factory=list)
    """Shown as ``Warning:`` lines by kubectl, even when allowed."""
    code: int | None = None
    """HTTP code of the denial Status (controller-runtime uses 403 for ``Denied``)."""
    patch: list[dict[str, Any]] | None = None
    """JSON patch operations for a mutating webhook."""

    @classmethod
    def allow(cls, *warnings: str, patch: list[dict[str, Any]] | None = None) -> AdmissionResponse:
        return cls(True, warnings=list(warnings), patch=patch)

    @classmethod
    def deny(cls, message: str, *, code: int = 403) -> AdmissionResponse:
        return cls(False, message, code=code)

    def to_review(self, uid: str) -> dict[str, Any]:
        """The ``response`` of an AdmissionReview answer."""
        response: dict[str, Any] = {"uid": uid, "allowed": self.allowed}
        if not self.allowed or self.message:
            status: dict[str, Any] = {"message": self.message}
            if not self.allowed:
                status["code"] = self.code or 403
                status["reason"] = "Forbidden" if (self.code or 403) == 403 else ""
            response["status"] = status
        if self.warnings:
            response["warnings"] = list(self.warnings)
        if self.patch is not None:
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(json.dumps(self.patch).encode()).decode()
        return response


Handler = Callable[[dict[str, Any]], Awaitable[AdmissionResponse]]


class WebhookServer:
    """Serves registered admission handlers over HTTPS on ``host:port``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9443,
        *,
        tls: TLSMaterial | None = None,
        hosts: Sequence[str] = ("127.0.0.1", "localhost"),
        client: Client | None = None,
        validating_configuration: str | None = None,
        mutating_configuration: str | None = None,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.host = host
        self.port = port
        self.tls = tls or TLSMaterial.self_signed([host, *hosts])
        self.client = client
        self.configurations: list[tuple[ResourceType, str]] = []
        if validating_configuration:
            self.configurations.append((VALIDATING_WEBHOOK_CONFIGURATION, validating_configuration))
        if mutating_configuration:
            self.configurations.append((MUTATING_WEBHOOK_CONFIGURATION, mutating_configuration))
        self._clock = clock
        self._handlers: dict[str, Handler] = {}
        self._app = web.Application()
        self._runner: web.AppRunner | None = None

    def register(self, path: str, handler: Handler) -> None:
        """Serve ``handler`` at ``path`` (e.g. ``/validate-kaito-sh-v1beta1-workspace``)."""
        if not path.startswith("/"):
            raise ValueError("webhook paths start with /")
        if path in self._handlers:
            raise ValueError(f"a handler is already registered at {path}")
        self._handlers[path] = handler
        self._app.router.add_post(path, self._serve(handler))

    @staticmethod
    def _serve(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def serve(request: web.Request) -> web.Response:
            try:
                review = await request.json()
                admission = review["request"]
                uid = str(admission["uid"])
            except (ValueError, KeyError, TypeError):
                return web.Response(status=400, text="expected an AdmissionReview with a request")
            try:
                verdict = await handler(admission)
            except Exception as exc:
                log.exception("webhook %s failed", request.path)
                verdict = AdmissionResponse(False, f"internal error: {exc}", code=500)
            answer = {
                "apiVersion": review.get("apiVersion", "admission.k8s.io/v1"),
                "kind": "AdmissionReview",
                "response": verdict.to_review(uid),
            }
            return web.json_response(answer)

        return serve

    async def start(self) -> int:
        """Listen (HTTPS) and return the bound port."""
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.host, self.port, ssl_context=self.tls.server_context()
        )
        await site.start()
        if self._runner.addresses:
            self.port = int(self._runner.addresses[0][1])
        log.info("webhook server on https://%s:%d %s", self.host, self.port, sorted(self._handlers))
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def inject_ca_bundle(self, attempts: int = 5) -> None:
        """Write our CA into every webhook of the named configurations (no write if present).

        A failed write (409 from a concurrent writer, a 5xx) is retried after 0.1 s, doubling,
        jittered so that replicas starting together do not collide again."""
        if not self.configurations:
            return
        if self.client is None:
            raise ValueError("inject_ca_bundle needs a client")
        for rt, name in self.configurations:
            backoff = Backoff(0.1, 1.6, jitter=1.0, clock=self._clock)
            for attempt in range(attempts):
                try:
                    await self._inject(rt, name)
                    break
                except NotFound:
                    log.warning("webhook: %s %s not found; caBundle not injected", rt.kind, name)
                    break
                except ApiError as exc:
                    if attempt == attempts - 1:
                        raise
                    log.info("webhook: injecting caBundle into %s: %s; retrying", name, exc)
                    await backoff.sleep()

    async def _inject(self, rt: ResourceType, name: str) -> None:
        assert self.client is not None
        config = await self.client.get(rt, name)
        bundle = self.tls.ca_bundle
        ops: list[dict[str, Any]] = [
            {
                "op": "test",
                "path": "/metadata/resourceVersion",
                "value": config["metadata"]["resourceVersion"],
            },
        ]
        for index, hook in enumerate(config.get("webhooks") or []):
            if (hook.get("clientConfig") or {}).get("caBundle") != bundle:
                ops.append(
                    {
                        "op": "add",
                        "path": f"/webhooks/{index}/clientConfig/caBundle",
                        "value": bundle,
                    }
                )
        if len(ops) > 1:
            await self.client.patch(rt, name, ops, patch_type=PatchType.JSON)
            log.info("webhook: caBundle injected into %s %s", rt.kind, name)

    async def run(self) -> None:
        """Start, inject the CA bundle, and serve until cancelled (a manager runnable)."""
        await self.start()
        try:
            await self.inject_ca_bundle()
            await asyncio.Event().wait()
        finally:
            await self.stop()
