"""Client certificates for a node's kubelet and kube-proxy, issued by the cluster itself.

A real node does not get the cluster CA's key. Like kubelet TLS bootstrap, the provisioner
makes a key and a CertificateSigningRequest for ``system:node:<name>`` (signer
``kubernetes.io/kube-apiserver-client-kubelet``) and for ``system:kube-proxy`` (signer
``kubernetes.io/kube-apiserver-client``), approves them, and waits for the controller-manager's
signer to issue them. Node authorization and NodeRestriction then hold the kubelet to its own
Node and pods; the default ``system:node-proxier`` binding covers kube-proxy.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kaito.runtime.certs import pem_private_key, subject_name
from kaito.runtime.client import Client
from kaito.runtime.errors import AlreadyExists, Conflict, NotFound
from kaito.runtime.resources import ResourceType

CSR = ResourceType(
    "certificates.k8s.io",
    "v1",
    "CertificateSigningRequest",
    "certificatesigningrequests",
    namespaced=False,
)
KUBELET_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"
VALIDITY_SECONDS = 365 * 24 * 3600


class CertificateNotIssued(RuntimeError):
    """The API server did not issue an approved certificate in time (or denied it)."""


def _csr_pem(key: ec.EllipticCurvePrivateKey, common_name: str, organization: str | None) -> bytes:
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject_name(common_name, organization))
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM)


def _approved(csr: dict[str, Any]) -> bool:
    conditions = (csr.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Approved" and c.get("status") == "True" for c in conditions)


async def _approve(client: Client, csr: dict[str, Any]) -> None:
    """Approve the request, unless someone did already (kube-controller-manager approves node
    client requests of users allowed to create them, which the provisioner may be)."""
    name = csr["metadata"]["name"]
    for _ in range(5):
        if _approved(csr):
            return
        conditions = list((csr.get("status") or {}).get("conditions") or [])
        conditions.append(
            {
                "type": "Approved",
                "status": "True",
                "reason": "KaitoLocalProvider",
                "message": f"approved by kaito's local provider for {name}",
            }
        )
        csr.setdefault("status", {})["conditions"] = conditions
        try:
            await client.request("PUT", CSR.path(name=name, subresource="approval"), body=csr)
            return
        except Conflict:
            csr = await client.get(CSR, name)
    raise CertificateNotIssued(f"certificate request {name}: approval kept conflicting")


def _have_pair(cert_path: Path, key_path: Path) -> bool:
    return cert_path.exists() and key_path.exists()


def _write_pair(
    cert_path: Path, key_path: Path, cert_pem: bytes, key: ec.EllipticCurvePrivateKey
) -> None:
    key_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.write_bytes(pem_private_key(key))
    key_path.chmod(0o600)
    cert_path.write_bytes(cert_pem)


async def issue_client_certificate(
    client: Client,
    *,
    csr_name: str,
    common_name: str,
    organization: str | None,
    signer: str,
    cert_path: Path,
    key_path: Path,
    timeout: float = 60.0,
) -> None:
    """Write a key and the certificate the cluster signed for it; skip if both exist."""
    if await asyncio.to_thread(_have_pair, cert_path, key_path):
        return
    key = ec.generate_private_key(ec.SECP256R1())
    body = {
        "apiVersion": CSR.api_version,
        "kind": CSR.kind,
        "metadata": {"name": csr_name, "labels": {"kaito.sh/local-node": "true"}},
        "spec": {
            "request": base64.b64encode(_csr_pem(key, common_name, organization)).decode(),
            "signerName": signer,
            "usages": ["digital signature", "client auth"],
            "expirationSeconds": VALIDITY_SECONDS,
        },
    }
    with contextlib.suppress(NotFound):
        await client.delete(CSR, csr_name)  # a stale request for another key
    try:
        created = await client.create(CSR, body)
    except AlreadyExists:
        await client.delete(CSR, csr_name)
        created = await client.create(CSR, body)
    await _approve(client, created)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while True:
            current = await client.get(CSR, csr_name)
            status = current.get("status") or {}
            for condition in status.get("conditions") or []:
                if (
                    condition.get("type") in ("Denied", "Failed")
                    and condition.get("status") == "True"
                ):
                    raise CertificateNotIssued(
                        f"certificate request {csr_name} {condition['type'].lower()}: "
                        f"{condition.get('message', '')}"
                    )
            if status.get("certificate"):
                pem = base64.b64decode(status["certificate"])
                await asyncio.to_thread(_write_pair, cert_path, key_path, pem, key)
                return
            if loop.time() > deadline:
                raise CertificateNotIssued(
                    f"certificate request {csr_name} approved but not signed within {timeout:.0f}s:"
                    " is kube-controller-manager running with --cluster-signing-cert-file?"
                )
            await asyncio.sleep(0.2)
    finally:
        with contextlib.suppress(NotFound):
            await client.delete(CSR, csr_name)
