"""Least privilege, proven: the manager and the provisioner run under their own
ServiceAccount tokens, bound only to manifests/rbac, and a Workspace still goes from
apply to ready to deleted. A permission missing from the ClusterRoles fails this test."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kaito.testenv import ControlPlane
from tests.e2e.conftest import REPO, Operator, install_crds
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


@pytest.fixture
def rbac_operator(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    install_crds(control_plane)
    control_plane.kubectl("create", "namespace", "kaito-system", check=False)
    control_plane.kubectl("apply", "-k", str(REPO / "manifests" / "rbac"))
    workdir = tmp_path_factory.mktemp("rbac")
    op = Operator(
        control_plane,
        workdir,
        ["--disable-webhook", "--leader-elect", "--leader-election-namespace=kaito-system"],
        manager_kubeconfig=token_kubeconfig(control_plane, "kaito-manager", workdir / "m.json"),
        provisioner_kubeconfig=token_kubeconfig(
            control_plane, "kaito-provisioner", workdir / "p.json"
        ),
        provisioner_args=("--leader-elect", "--leader-election-namespace=kaito-system"),
    )
    op.start()
    try:
        yield op
    finally:
        op.stop()


def test_workspace_lifecycle_under_least_privilege(
    rbac_operator: Operator, control_plane: ControlPlane, namespace: str
) -> None:
    ws = sample("workspace-phi-3-mini-with-adapters.yaml")
    name = ws["metadata"]["name"]
    apply_workspace(control_plane, ws, namespace)
    wait_ready(control_plane, name, namespace, timeout=90)
    assert get_json(control_plane, "lease", "kaito-manager", "-n", "kaito-system") is not None
    events = get_json(control_plane, "events", "-n", namespace)
    assert any(e["reason"] == "NodeClaimCreated" for e in events["items"])

    control_plane.kubectl("delete", "workspace", name, "-n", namespace, "--timeout=90s")
    wait_until(lambda: not nodeclaims_of(control_plane, name, namespace), what="NodeClaims gone")
    for process in (rbac_operator.manager, rbac_operator.provisioner):
        log = process.log_path.read_text()
        assert "403" not in log and "Forbidden" not in log, f"{process.name}:\n{log[-3000:]}"
