"""TLS material for the admission webhook server.

The apiserver only calls webhooks over HTTPS and verifies them against the ``caBundle`` of
the webhook configuration. Like controller-runtime users with cert-manager or Kaito's own
``webhook-cert`` Secret, we either read a certificate (files or a ``kubernetes.io/tls``
Secret) or make one at start: a small CA plus a serving certificate for the given host names
and IPs, whose CA is then patched into the webhook configuration.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import ssl
import tempfile
from collections.abc import Sequence
from pathlib import Path

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kaito.runtime.client import Client
from kaito.runtime.resources import SECRET

VALIDITY = dt.timedelta(days=3650)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _san(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


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
        now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{common_name}-ca")])
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(_san(hosts), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        return cls(
            cert.public_bytes(serialization.Encoding.PEM),
            _pem_key(key),
            ca.public_bytes(serialization.Encoding.PEM),
        )

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
