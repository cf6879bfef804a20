"""Certificates for the local control plane.

A real kube-apiserver needs TLS, a client CA and a service-account signing key;
kubeadm would normally make them. We make the smallest honest set with
``cryptography``: one CA, one serving certificate for 127.0.0.1, and client
certificates whose subject carries the identity (CN = user, O = group) the way
Kubernetes' x509 authenticator reads it. The certificates are built by
:mod:`kaito.runtime.certs` (which makes the webhook's); this module picks their names,
lifetimes and usages and writes them to disk.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from kaito.runtime.certs import (
    ca_certificate,
    leaf_certificate,
    pem_private_key,
    subject_alt_name,
    subject_name,
)

_VALIDITY = dt.timedelta(days=365)


@attrs.frozen
class KeyPair:
    """A PEM certificate and its PEM private key, both written to disk."""

    cert: Path
    key: Path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(pem_private_key(key))
    path.chmod(0o600)


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def make_ca(directory: Path, common_name: str = "kaito-testenv-ca") -> KeyPair:
    """Create a self-signed CA certificate and key in ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = ca_certificate(
        key,
        subject_name(common_name),
        not_before=now - dt.timedelta(minutes=5),
        not_after=now + _VALIDITY,
        path_length=None,
    )
    pair = KeyPair(directory / "ca.crt", directory / "ca.key")
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(pair.key, key)
    return pair


def issue(
    ca: KeyPair,
    directory: Path,
    stem: str,
    *,
    common_name: str,
    organization: str | None = None,
    hosts: tuple[str, ...] = (),
    server: bool = False,
) -> KeyPair:
    """Issue a certificate signed by ``ca``: a serving one for ``hosts`` or a client one."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = leaf_certificate(
        key,
        subject_name(common_name, organization),
        issuer=ca_cert.subject,
        issuer_key=_load_key(ca.key),
        not_before=now - dt.timedelta(minutes=5),
        not_after=now + _VALIDITY,
        usage=ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH,
        san=subject_alt_name(hosts) if hosts else None,
    )
    pair = KeyPair(directory / f"{stem}.crt", directory / f"{stem}.key")
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(pair.key, key)
    return pair


def make_service_account_keys(directory: Path) -> KeyPair:
    """RSA key pair the apiserver signs (and verifies) service-account tokens with.

    ``cert`` holds the public key here, which is what ``--service-account-key-file`` takes.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pair = KeyPair(directory / "sa.pub", directory / "sa.key")
    pair.cert.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    _write_key(pair.key, key)
    return pair
