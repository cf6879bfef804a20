"""Serve the Workspace admission webhook from the manager and register it with the apiserver.

Two ways to be reached, chosen by ``--webhook-service``:

* **in a cluster** (``--webhook-service=kaito-system/kaito-webhook``): the
  ValidatingWebhookConfiguration comes from ``manifests/webhook``; every manager replica
  serves the same certificate, kept in the Secret ``kaito-webhook-cert`` that the install
  ships empty (the first replica fills it, see :func:`shared_certificate`), and the CA is
  patched into the configuration's ``caBundle``;
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
from kaito.presets import default_catalog
from kaito.runtime import resources as r
from kaito.runtime.client import Client
from kaito.runtime.errors import AlreadyExists, Conflict, Forbidden, NotFound
from kaito.runtime.manager import Manager
from kaito.runtime.tls import TLSMaterial
from kaito.runtime.webhook import AdmissionResponse, WebhookServer

CERT_SECRET = "kaito-webhook-cert"
FIELD_MANAGER = "kaito-manager"


def admission_handler(settings: Settings) -> Any:
    """The handler the webhook server calls with each AdmissionReview ``request``."""
    catalog = default_catalog()  # loaded once, the reconciler's catalog (it is cached)

    async def validate(request: dict[str, Any]) -> AdmissionResponse:
        answer = review(
            {"request": request},
            catalog=catalog,
            cloud=settings.cloud,
            node_auto_provisioning=settings.node_auto_provisioning,
            trusted_data_networks=settings.data_networks,
            max_node_count=settings.max_nodes_per_workspace,
            runtime_contract=settings.runtime_contract,
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


class CertificateSecretMissing(RuntimeError):
    """The Secret the webhook certificate lives in is absent and may not be created."""


def _filled(secret: dict[str, Any]) -> TLSMaterial | None:
    """The certificate in ``secret``, or None while it is still empty."""
    data = secret.get("data") or {}
    if not data.get("tls.crt") or not data.get("tls.key"):
        return None
    cert = base64.b64decode(data["tls.crt"])
    ca = base64.b64decode(data["ca.crt"]) if data.get("ca.crt") else cert
    return TLSMaterial(cert, base64.b64decode(data["tls.key"]), ca)


def _certificate_data(namespace: str, service: str) -> tuple[TLSMaterial, dict[str, str]]:
    hosts = [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]
    tls = TLSMaterial.self_signed(hosts)
    data = {
        "tls.crt": base64.b64encode(tls.cert_pem).decode(),
        "tls.key": base64.b64encode(tls.key_pem).decode(),
        "ca.crt": base64.b64encode(tls.ca_pem).decode(),
    }
    return tls, data


async def shared_certificate(
    client: Client, namespace: str, service: str, *, attempts: int = 5
) -> TLSMaterial:
    """The serving certificate all replicas share, kept in the Secret ``kaito-webhook-cert``.

    The install ships that Secret empty (``manifests/webhook``), so the manager needs only
    ``get`` and ``update`` on it: a replica that finds it empty makes a certificate and writes
    it with the resourceVersion it read. When replicas race, the apiserver takes one write and
    answers the others 409 Conflict; they re-read and serve the winner's certificate. Only
    when the Secret is missing does the manager try to create it (the old behaviour, for
    installs that allow it); without that permission it stops with a message naming it.
    """
    for _ in range(attempts):
        try:
            secret = await client.get(r.SECRET, CERT_SECRET, namespace)
        except NotFound:
            tls, data = _certificate_data(namespace, service)
            body = {
                "metadata": {"name": CERT_SECRET, "namespace": namespace},
                "type": "Opaque",
                "data": data,
            }
            try:
                await client.create(r.SECRET, body, namespace, field_manager=FIELD_MANAGER)
            except AlreadyExists:  # another replica created it: read theirs
                continue
            except Forbidden as exc:
                raise CertificateSecretMissing(
                    f"the webhook certificate Secret {namespace}/{CERT_SECRET} does not exist "
                    f"and this manager may not create it ({exc.message}); apply the install's "
                    f"manifests (manifests/webhook ships it empty) or create an empty Secret "
                    f"{CERT_SECRET} in {namespace}"
                ) from exc
            return tls
        existing = _filled(secret)
        if existing is not None:
            return existing
        tls, data = _certificate_data(namespace, service)
        # The Secret as read (its resourceVersion included) plus our data: a conditional update.
        body = {**secret, "data": {**(secret.get("data") or {}), **data}}
        try:
            await client.replace(r.SECRET, body, field_manager=FIELD_MANAGER)
        except Conflict:  # another replica filled it first: re-read and use its certificate
            continue
        return tls
    raise RuntimeError(
        f"the webhook certificate Secret {namespace}/{CERT_SECRET} kept changing while "
        f"{attempts} attempts tried to read or fill it"
    )


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
