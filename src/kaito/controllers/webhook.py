"""Serve the Workspace admission webhook from the manager and register it with the apiserver.

Two ways to be reached, chosen by ``--webhook-service``:

* **in a cluster** (``--webhook-service=kaito-system/kaito-webhook``): the
  ValidatingWebhookConfiguration comes from ``manifests/webhook``; every manager replica
  serves the same certificate, kept in the Secret ``kaito-webhook-cert`` (the first replica
  creates it), and the CA is patched into the configuration's ``caBundle``;
* **locally** (no Service): the apiserver calls ``https://<webhook-host>:<port>`` directly,
  so the manager applies a configuration with that URL and its own CA.

The verdicts themselves are :func:`kaito.api.validation.review`, upstream's rules and words.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import ssl
from typing import Any

from kaito.api import constants as c
from kaito.api.validation import review
from kaito.api.webhook_config import validating_webhook_configuration
from kaito.controllers.settings import Settings
from kaito.runtime import resources as r
from kaito.runtime.certs import TLSMaterial
from kaito.runtime.client import Client
from kaito.runtime.errors import AlreadyExists, NotFound
from kaito.runtime.manager import Manager
from kaito.runtime.webhook import AdmissionResponse, WebhookServer

CERT_SECRET = "kaito-webhook-cert"
FIELD_MANAGER = "kaito-manager"


def admission_handler(settings: Settings) -> Any:
    """The handler the webhook server calls with each AdmissionReview ``request``."""

    async def validate(request: dict[str, Any]) -> AdmissionResponse:
        answer = review(
            {"request": request},
            node_auto_provisioning=settings.node_auto_provisioning,
            cloud=settings.cloud,
            trusted_data_networks=settings.data_networks,
        )["response"]
        warnings = list(answer.get("warnings") or [])
        if answer["allowed"]:
            return AdmissionResponse.allow(*warnings)
        status = answer.get("status") or {}
        return AdmissionResponse(
            False,
            str(status.get("message", "")),
            warnings=warnings,
            code=int(status.get("code", 400)),
        )

    return validate


async def shared_certificate(client: Client, namespace: str, service: str) -> TLSMaterial:
    """The serving certificate all replicas share, created once in a Secret."""
    try:
        return await TLSMaterial.from_secret(client, namespace, CERT_SECRET)
    except NotFound:
        pass
    hosts = [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]
    tls = TLSMaterial.self_signed(hosts)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": CERT_SECRET, "namespace": namespace},
        "type": "kubernetes.io/tls",
        "data": {
            "tls.crt": base64.b64encode(tls.cert_pem).decode(),
            "tls.key": base64.b64encode(tls.key_pem).decode(),
            "ca.crt": base64.b64encode(tls.ca_pem).decode(),
        },
    }
    try:
        await client.create(r.SECRET, secret, namespace)
    except AlreadyExists:  # another replica won the race: use its certificate
        return await TLSMaterial.from_secret(client, namespace, CERT_SECRET)
    return tls


def _local_address(listen: str) -> str:
    """Where this process reaches a server listening on ``listen``."""
    return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(listen, listen)


async def _accepts_tls(host: str, port: int, timeout: float = 2.0) -> bool:
    """Whether ``host:port`` completes a TLS handshake (the certificate is not checked: the
    question is only whether the webhook server answers). Failures raise, so ``/readyz``
    says why."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    _, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, ssl=context), timeout=timeout
    )
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()
    return True


async def register_webhook(manager: Manager, args: argparse.Namespace, settings: Settings) -> None:
    """Add the webhook server to ``manager`` (it runs on every replica, leader or not)."""
    tls: TLSMaterial | None = None
    if args.webhook_service:
        namespace, _, service = args.webhook_service.rpartition("/")
        tls = await shared_certificate(manager.client, namespace or "kaito-system", service)
    server = WebhookServer(
        args.webhook_host,
        args.webhook_port,
        tls=tls,
        client=manager.client,
        validating_configuration=c.WEBHOOK_NAME if args.webhook_service else None,
    )
    server.register(c.WEBHOOK_PATH, admission_handler(settings))
    started = asyncio.Event()
    host = _local_address(args.webhook_host)

    async def serving() -> bool:
        # controller-runtime's webhook StartedChecker: registered (CA injected or
        # configuration applied) and answering a TLS handshake right now.
        return started.is_set() and await _accepts_tls(host, server.port)

    manager.readyz.add("webhook", serving)

    async def run() -> None:
        await server.start()
        try:
            if args.webhook_service:
                await server.inject_ca_bundle()
            else:
                authority = f"[{host}]" if ":" in host else host
                config = validating_webhook_configuration(
                    url=f"https://{authority}:{server.port}", ca_bundle=server.tls.ca_pem
                )
                await manager.client.apply(
                    r.VALIDATING_WEBHOOK_CONFIGURATION, config, field_manager=FIELD_MANAGER
                )
            started.set()
            await asyncio.Event().wait()
        finally:
            started.clear()
            await server.stop()

    manager.add_runnable(run)
