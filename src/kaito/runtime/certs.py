"""TLS material for the admission webhook server.

The apiserver only calls webhooks over HTTPS and verifies them against the ``caBundle`` of
the webhook configuration. Like controller-runtime users with cert-manager or Kaito's own
``webhook-cert`` Secret, we either read a certificate (files or a ``kubernetes.io/tls``
Secret) or make one at start: a small CA plus a serving certificate for the given host names
and IPs, whose CA is then patched into the webhook configuration.

The certificate builders below are public because :mod:`kaito.testenv.certs` makes its local
control plane's CA and certificates with them too. The material itself (read from files or a
Secret, served) is :mod:`kaito.runtime.tls`, which needs no ``cryptography``: importing it costs
about 9 MiB, paid only by a process that makes a certificate.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kaito.runtime.tls import TLSMaterial

VALIDITY = dt.timedelta(days=3650)


def pem_private_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    """``key`` as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def subject_name(common_name: str, organization: str | None = None) -> x509.Name:
    """A subject of CN (and O when given): the user and group Kubernetes' x509 authenticator
    reads from a client certificate."""
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(parts)


def subject_alt_name(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    """IP address entries for the hosts that parse as one, DNS names for the rest."""
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def ca_certificate(
    key: ec.EllipticCurvePrivateKey,
    name: x509.Name,
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
    path_length: int | None,
) -> x509.Certificate:
    """A self-signed CA certificate that may sign certificates and CRLs."""
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
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
        .sign(key, hashes.SHA256())
    )


def leaf_certificate(
    key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    *,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
    usage: x509.ObjectIdentifier,
    san: x509.SubjectAlternativeName | None,
) -> x509.Certificate:
    """A non-CA certificate for ``key``'s public half, for one extended key usage (server or
    client auth), signed by ``issuer_key``; ``san`` is added when given."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def self_signed(hosts: Sequence[str], *, common_name: str = "kaito-webhook") -> TLSMaterial:
    """A fresh CA and a serving certificate for ``hosts`` (DNS names or IPs)."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = subject_name(f"{common_name}-ca")
    ca = ca_certificate(ca_key, ca_name, not_before=now, not_after=now + VALIDITY, path_length=0)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = leaf_certificate(
        key,
        subject_name(common_name),
        issuer=ca_name,
        issuer_key=ca_key,
        not_before=now,
        not_after=now + VALIDITY,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        san=subject_alt_name(hosts),
    )
    return TLSMaterial(
        cert.public_bytes(serialization.Encoding.PEM),
        pem_private_key(key),
        ca.public_bytes(serialization.Encoding.PEM),
    )
