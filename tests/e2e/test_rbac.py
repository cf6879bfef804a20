"""Least privilege, proven: the manager and the provisioner run under their own
ServiceAccount tokens, bound only to the RBAC that the kwok install (manifests/local) renders,
and a Workspace still goes from apply to ready to deleted. A permission missing from the roles
fails this test.

The manager runs as it does in a cluster (``--webhook-service=kaito-system/kaito-webhook``),
two replicas: they fill the empty certificate Secret the install ships, under a Role that may
only get and update that one Secret, and both serve the same certificate and report the
webhook in ``/readyz``. No ValidatingWebhookConfiguration is installed: these processes run on
the host, not behind the Service; the same RBAC as pods, with the webhook behind its Service
and a removed verb, is tests/e2e/incluster.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from kaito.testenv import ControlPlane
from kaito.testenv.controlplane import free_port
from tests.e2e.conftest import REPO, Operator, OperatorProcess, install_crds
from tests.e2e.helpers import apply_workspace, nodeclaims_of, sample, wait_ready
from tests.support.waiting import get_json, wait_until


def token_kubeconfig(plane: ControlPlane, account: str, path: Path) -> Path:
    token = plane.kubectl(
        "create", "token", account, "-n", "kaito-system", "--duration=1h"
    ).stdout.strip()
    ca = base64.b64encode((plane.pki / "ca.crt").read_bytes()).decode()
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {"server": plane.server, "certificate-authority-data": ca},
                    }
                ],
                "users": [{"name": account, "user": {"token": token}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": account}}],
                "current-context": "c",
            }
        )
    )
    return path


RBAC_KINDS = {"ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
CERT_SECRET = "kaito-webhook-cert"
WEBHOOK_SERVICE = "--webhook-service=kaito-system/kaito-webhook"


def install_rbac(plane: ControlPlane, overlay: str = "local") -> None:
    """The ServiceAccounts, roles and bindings of ``manifests/<overlay>``, and the empty
    webhook certificate Secret it ships, as that install would create them."""
    rendered = plane.kubectl("kustomize", str(REPO / "manifests" / overlay)).stdout
    objects = [
        o
        for o in yaml.safe_load_all(rendered)
        if o
        and (
            o["kind"] in RBAC_KINDS
            or (o["kind"] == "Secret" and o["metadata"]["name"] == CERT_SECRET)
        )
    ]
    # Start from the Secret as shipped, not one filled by an earlier run.
    plane.kubectl("delete", "secret", CERT_SECRET, "-n", "kaito-system", "--ignore-not-found")
    plane.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))


# A 403 as the client reports it ("403 Forbidden: ..."), not the digits inside a port number
# or a timestamp's milliseconds.
DENIED = re.compile(r"forbidden|(?<![\w,.:])403(?![\w,.:])", re.IGNORECASE)


def denials(process: OperatorProcess) -> list[str]:
    """The lines of ``process``'s log where the apiserver refused it something."""
    return [line for line in process.log_path.read_text().splitlines() if DENIED.search(line)]


def may(plane: ControlPlane, account: str, verb: str, what: str) -> bool:
    return (
        plane.kubectl(
            "auth",
            "can-i",
            verb,
            what,
            "-n",
            "kaito-system",
            f"--as=system:serviceaccount:kaito-system:{account}",
            check=False,
        ).stdout.strip()
        == "yes"
    )


def wait_for_rbac(plane: ControlPlane) -> None:
    """Until the apiserver's authorizer has the new bindings (its informers lag an apply)."""
    for account, verb, what in (
        ("kaito-manager", "update", f"secret/{CERT_SECRET}"),
        ("kaito-manager", "create", "deployments.apps"),
        ("kaito-provisioner", "create", "nodes"),
        ("kaito-provisioner", "patch", "nodeclaims.karpenter.sh"),
    ):
        wait_until(
            lambda a=account, v=verb, w=what: may(plane, a, v, w),
            timeout=30,
            what=f"{account} may {verb} {what}",
        )


def webhook_port(process: OperatorProcess) -> int:
    (arg,) = [a for a in process.args if a.startswith("--webhook-port=")]
    return int(arg.split("=", 1)[1])


def readyz(process: OperatorProcess) -> str:
    url = f"http://127.0.0.1:{process.health_port}/readyz?verbose"
    with urllib.request.urlopen(url, timeout=5) as resp:
        return str(resp.read().decode())


def served_certificate(port: int) -> x509.Certificate:
    return x509.load_pem_x509_certificate(ssl.get_server_certificate(("127.0.0.1", port)).encode())


@pytest.fixture
def rbac_operator(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Operator, OperatorProcess]]:
    """kaito under its own tokens, plus a second manager replica (a standby)."""
    install_crds(control_plane)
    control_plane.kubectl("create", "namespace", "kaito-system", check=False)
    install_rbac(control_plane)
    wait_for_rbac(control_plane)
    workdir = tmp_path_factory.mktemp("rbac")
    manager_kubeconfig = token_kubeconfig(control_plane, "kaito-manager", workdir / "m.json")
    manager_args = [WEBHOOK_SERVICE, "--leader-elect", "--leader-election-namespace=kaito-system"]
    op = Operator(
        control_plane,
        workdir,
        manager_args,
        manager_kubeconfig=manager_kubeconfig,
        provisioner_kubeconfig=token_kubeconfig(
            control_plane, "kaito-provisioner", workdir / "p.json"
        ),
        provisioner_args=("--leader-elect", "--leader-election-namespace=kaito-system"),
    )
    standby = OperatorProcess(
        "manager-2",
        [
            "manager",
            f"--kubeconfig={manager_kubeconfig}",
            "--webhook-host=127.0.0.1",
            f"--webhook-port={free_port()}",
            *manager_args,
        ],
        workdir,
    )
    op.start()
    try:
        standby.start()
        yield op, standby
    finally:
        standby.stop()
        op.stop()
        control_plane.kubectl(
            "delete", "secret", CERT_SECRET, "-n", "kaito-system", "--ignore-not-found"
        )


def secret_data(plane: ControlPlane) -> dict[str, Any]:
    secret = get_json(plane, "secret", CERT_SECRET, "-n", "kaito-system")
    assert secret is not None
    data: dict[str, Any] = secret.get("data") or {}
    return data


def test_every_manager_replica_serves_the_shipped_certificate(
    rbac_operator: tuple[Operator, OperatorProcess], control_plane: ControlPlane
) -> None:
    op, standby = rbac_operator
    data = secret_data(control_plane)
    stored = x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))
    names = stored.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "kaito-webhook.kaito-system.svc" in names.get_values_for_type(x509.DNSName)
    for replica in (op.manager, standby):
        assert "[+]webhook ok" in readyz(replica), replica.name
        assert served_certificate(webhook_port(replica)) == stored, replica.name
        assert not denials(replica), f"{replica.name}:\n{replica.log_tail()}"


def test_workspace_lifecycle_under_least_privilege(
    rbac_operator: tuple[Operator, OperatorProcess], control_plane: ControlPlane, namespace: str
) -> None:
    op, standby = rbac_operator
    ws = sample("workspace-phi-3-mini-with-adapters.yaml")
    name = ws["metadata"]["name"]
    apply_workspace(control_plane, ws, namespace)
    wait_ready(control_plane, name, namespace, timeout=90)
    assert get_json(control_plane, "lease", "kaito-manager", "-n", "kaito-system") is not None

    control_plane.kubectl("delete", "workspace", name, "-n", namespace, "--timeout=90s")
    wait_until(lambda: not nodeclaims_of(control_plane, name, namespace), what="NodeClaims gone")
    events = get_json(control_plane, "events", "-n", namespace)  # written under its role too
    assert any(e["reason"] == "NodeClaimDeleted" for e in events["items"]), events["items"]
    for process in (op.manager, standby, op.provisioner):
        assert not denials(process), f"{process.name}:\n{process.log_tail()}"
