"""A webhook server's TLS material: a certificate chain, its key and the CA clients trust.

Reading it (PEM files, a ``kubernetes.io/tls`` Secret) and serving it need only :mod:`ssl`;
making a fresh one needs :mod:`kaito.runtime.certs` and the ``cryptography`` package behind it
(about 9 MiB resident), so :meth:`TLSMaterial.self_signed` imports that module when it is
called. A manager started with ``--disable-webhook`` never loads it.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from kaito.runtime.resources import SECRET

if TYPE_CHECKING:
    from kaito.runtime.client import Client


@attrs.frozen
class TLSMaterial:
    """A serving certificate chain, its key, and the CA that clients should trust (PEM)."""

    cert_pem: bytes
    key_pem: bytes
    ca_pem: bytes

    @property
    def ca_bundle(self) -> str:
        """The CA, base64-encoded as a webhook ``clientConfig.caBundle`` wants it."""
        return base64.b64encode(self.ca_pem).decode()

    @classmethod
    def self_signed(
        cls, hosts: Sequence[str], *, common_name: str = "kaito-webhook"
    ) -> TLSMaterial:
        """A fresh CA and a serving certificate for ``hosts`` (DNS names or IPs)."""
        from kaito.runtime.certs import self_signed  # loads cryptography on demand

        return self_signed(hosts, common_name=common_name)

    @classmethod
    def from_files(
        cls, cert: str | os.PathLike[str], key: str | os.PathLike[str], ca: str | None = None
    ) -> TLSMaterial:
        """Read PEM files; without ``ca`` the certificate is its own trust anchor."""
        cert_pem = Path(cert).read_bytes()
        return cls(cert_pem, Path(key).read_bytes(), Path(ca).read_bytes() if ca else cert_pem)

    @classmethod
    async def from_secret(cls, client: Client, namespace: str, name: str) -> TLSMaterial:
        """Read a ``kubernetes.io/tls`` Secret (``tls.crt``, ``tls.key``, optional ``ca.crt``)."""
        secret = await client.get(SECRET, name, namespace)
        data = secret.get("data") or {}
        cert = base64.b64decode(data["tls.crt"])
        ca = base64.b64decode(data["ca.crt"]) if data.get("ca.crt") else cert
        return cls(cert, base64.b64decode(data["tls.key"]), ca)

    def server_context(self) -> ssl.SSLContext:
        """An SSL context serving this certificate (TLS 1.2+)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        with tempfile.TemporaryDirectory() as directory:
            cert_path, key_path = Path(directory, "tls.crt"), Path(directory, "tls.key")
            cert_path.write_bytes(self.cert_pem)
            key_path.write_bytes(self.key_pem)
            key_path.chmod(0o600)
            context.load_cert_chain(cert_path, key_path)
        return context
