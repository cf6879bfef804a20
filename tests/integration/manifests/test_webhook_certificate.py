"""The webhook certificate Secret as the install ships it, filled by
:func:`kaito.controllers.webhook.shared_certificate` under the manager's own token, bound only
to the Role that manifests/rbac gives it (get and update on that one Secret, no create).

Each test gets the install's pieces (ServiceAccount, Role, RoleBinding, empty Secret, all
rendered from manifests/default) moved into a fresh namespace, so kaito-system stays alone.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from kaito.controllers.webhook import CERT_SECRET, CertificateSecretMissing, shared_certificate
from kaito.runtime import resources as r
from kaito.runtime.client import Client, ClientConfig
from kaito.runtime.errors import ApiError, NotFound
from kaito.testenv import ControlPlane

MANIFESTS = Path(__file__).resolve().parents[3] / "manifests"
SERVICE = "kaito-webhook"


def certificate_pieces(plane: ControlPlane) -> list[dict[str, Any]]:
    """From the rendered default install: the manager's ServiceAccount, every Role and
    RoleBinding that gives it Secrets, and the Secret itself."""
    rendered = plane.kubectl("kustomize", str(MANIFESTS / "default")).stdout
    objects = [o for o in yaml.safe_load_all(rendered) if o]
    roles = {
        o["metadata"]["name"]
        for o in objects
        if o["kind"] == "Role" and any("secrets" in rule["resources"] for rule in o["rules"])
    }
    picked = [
        o
        for o in objects
        if (o["kind"] == "ServiceAccount" and o["metadata"]["name"] == "kaito-manager")
        or (o["kind"] == "Role" and o["metadata"]["name"] in roles)
        or (o["kind"] == "RoleBinding" and o["roleRef"]["name"] in roles)
        or (o["kind"] == "Secret" and o["metadata"]["name"] == CERT_SECRET)
    ]
    assert {o["kind"] for o in picked} == {"ServiceAccount", "Role", "RoleBinding", "Secret"}
    return picked


def moved(objects: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    out = []
    for obj in objects:
        obj = json.loads(json.dumps(obj))
        obj["metadata"]["namespace"] = namespace
        for subject in obj.get("subjects") or []:
            subject["namespace"] = namespace
        out.append(obj)
    return out


def token_kubeconfig(plane: ControlPlane, namespace: str, path: Path) -> Path:
    token = plane.kubectl(
        "create", "token", "kaito-manager", "-n", namespace, "--duration=1h"
    ).stdout.strip()
    ca = base64.b64encode((plane.pki / "ca.crt").read_bytes()).decode()
    cluster = {"server": plane.server, "certificate-authority-data": ca}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "kaito-manager", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "kaito-manager"}}],
        "current-context": "c",
    }
    path.write_text(json.dumps(config))
    return path


@pytest.fixture
def manager_kubeconfig(control_plane: ControlPlane, namespace: str, tmp_path: Path) -> Path:
    """The install's certificate pieces applied in ``namespace``; a kubeconfig holding the
    manager ServiceAccount's token there."""
    pieces = moved(certificate_pieces(control_plane), namespace)
    control_plane.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(pieces))
    return token_kubeconfig(control_plane, namespace, tmp_path / "manager.json")


async def manager_client(kubeconfig: Path) -> Client:
    return await Client.from_kubeconfig(kubeconfig, config=ClientConfig(qps=0))


@pytest.fixture
async def admin(control_plane: ControlPlane) -> AsyncIterator[Client]:
    async with await Client.from_kubeconfig(
        control_plane.kubeconfig, config=ClientConfig(qps=0)
    ) as client:
        yield client


class Recorder:
    """Wraps clients' ``request`` to log every call's method and outcome, and to hold the
    first write until ``readers`` GETs of the Secret happened: replicas that all read it
    empty before any of them writes, the race the resourceVersion must settle."""

    def __init__(self, readers: int) -> None:
        self.readers = readers
        self.reads = 0
        self.everyone_read = asyncio.Event()
        self.calls: list[tuple[str, str]] = []

    def wrap(self, client: Client) -> Client:
        send = client.request

        async def request(method: str, path: str, **kwargs: Any) -> Any:
            if method == "GET" and path.endswith(f"/secrets/{CERT_SECRET}"):
                self.reads += 1
                if self.reads >= self.readers:
                    self.everyone_read.set()
            elif method != "GET":
                await asyncio.wait_for(self.everyone_read.wait(), timeout=10)
            try:
                answer = await send(method, path, **kwargs)
            except ApiError as exc:
                self.calls.append((method, type(exc).__name__))
                raise
            self.calls.append((method, "ok"))
            return answer

        client.request = request  # type: ignore[method-assign]
        return client


def dns_names(cert_pem: bytes) -> set[str]:
    cert = x509.load_pem_x509_certificate(cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName))


def can_i(plane: ControlPlane, namespace: str, *what: str) -> bool:
    answer = plane.kubectl(
        "auth",
        "can-i",
        *what,
        "-n",
        namespace,
        f"--as=system:serviceaccount:{namespace}:kaito-manager",
        check=False,
    )
    return answer.stdout.strip() == "yes"


def test_the_manager_may_touch_only_its_certificate_secret(
    control_plane: ControlPlane, namespace: str, manager_kubeconfig: Path
) -> None:
    assert can_i(control_plane, namespace, "get", f"secret/{CERT_SECRET}")
    assert can_i(control_plane, namespace, "update", f"secret/{CERT_SECRET}")
    assert not can_i(control_plane, namespace, "create", "secrets")
    assert not can_i(control_plane, namespace, "delete", f"secret/{CERT_SECRET}")
    assert not can_i(control_plane, namespace, "get", "secret/someone-elses")
    assert not can_i(control_plane, namespace, "list", "secrets")


async def test_racing_replicas_fill_the_shipped_secret_with_one_certificate(
    admin: Client, namespace: str, manager_kubeconfig: Path
) -> None:
    shipped = await admin.get(r.SECRET, CERT_SECRET, namespace)
    assert not shipped.get("data")
    recorder = Recorder(readers=2)
    async with (
        await manager_client(manager_kubeconfig) as first,
        await manager_client(manager_kubeconfig) as second,
    ):
        a, b = await asyncio.gather(
            shared_certificate(recorder.wrap(first), namespace, SERVICE),
            shared_certificate(recorder.wrap(second), namespace, SERVICE),
        )
    assert a == b
    # Both read it empty and both wrote; the apiserver kept one write and refused the other,
    # whose replica re-read the Secret and took the winner's certificate.
    writes = [outcome for method, outcome in recorder.calls if method != "GET"]
    assert sorted(writes) == ["Conflict", "ok"], recorder.calls
    assert all(method in ("GET", "PUT") for method, _ in recorder.calls), recorder.calls
    stored = await admin.get(r.SECRET, CERT_SECRET, namespace)
    data = stored["data"]
    assert base64.b64decode(data["tls.crt"]) == a.cert_pem
    assert base64.b64decode(data["tls.key"]) == a.key_pem
    assert base64.b64decode(data["ca.crt"]) == a.ca_pem
    assert stored["metadata"]["annotations"] == shipped["metadata"]["annotations"]
    assert f"{SERVICE}.{namespace}.svc" in dns_names(a.cert_pem)

    # A replica starting later reads the same certificate and writes nothing.
    later = Recorder(readers=1)
    async with await manager_client(manager_kubeconfig) as third:
        c = await shared_certificate(later.wrap(third), namespace, SERVICE)
    assert c == a
    assert later.calls == [("GET", "ok")]


async def test_a_missing_secret_stops_the_manager_naming_it(
    control_plane: ControlPlane, admin: Client, namespace: str, manager_kubeconfig: Path
) -> None:
    control_plane.kubectl("delete", "secret", CERT_SECRET, "-n", namespace)
    async with await manager_client(manager_kubeconfig) as client:
        with pytest.raises(CertificateSecretMissing) as raised:
            await shared_certificate(client, namespace, SERVICE)
    message = str(raised.value)
    assert f"{namespace}/{CERT_SECRET}" in message and "manifests/webhook" in message
    with pytest.raises(NotFound):
        await admin.get(r.SECRET, CERT_SECRET, namespace)


async def test_a_missing_secret_is_created_where_the_manager_may(
    control_plane: ControlPlane, namespace: str
) -> None:
    """Without the shipped Secret but with create permission (e.g. a host-process manager on
    an admin kubeconfig), racing replicas still end with one certificate."""
    async with (
        await Client.from_kubeconfig(control_plane.kubeconfig, config=ClientConfig(qps=0)) as one,
        await Client.from_kubeconfig(control_plane.kubeconfig, config=ClientConfig(qps=0)) as two,
    ):
        recorder = Recorder(readers=2)
        a, b = await asyncio.gather(
            shared_certificate(recorder.wrap(one), namespace, SERVICE),
            shared_certificate(recorder.wrap(two), namespace, SERVICE),
        )
        assert a == b
        writes = sorted(outcome for method, outcome in recorder.calls if method != "GET")
        assert writes == ["AlreadyExists", "ok"], recorder.calls
        stored = await one.get(r.SECRET, CERT_SECRET, namespace)
    assert base64.b64decode(stored["data"]["tls.crt"]) == a.cert_pem
    # The same type as the shipped Secret, so applying the install over it later works.
    assert stored["type"] == "Opaque"
