"""The install manifests render with kustomize and the real apiserver accepts them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kaito.testenv import ControlPlane

MANIFESTS = Path(__file__).resolve().parents[3] / "manifests"


@pytest.mark.parametrize("overlay", ["default", "local", "azure", "prometheus"])
def test_kustomize_renders(control_plane: ControlPlane, overlay: str) -> None:
    rendered = control_plane.kubectl("kustomize", str(MANIFESTS / overlay)).stdout
    objects = [o for o in yaml.safe_load_all(rendered) if o]
    assert objects
    kinds = {o["kind"] for o in objects}
    if overlay != "prometheus":
        assert {"Namespace", "CustomResourceDefinition", "Deployment", "ClusterRole"} <= kinds
        assert "ValidatingWebhookConfiguration" in kinds


def test_default_install_passes_server_side_dry_run(control_plane: ControlPlane) -> None:
    control_plane.kubectl("create", "namespace", "kaito-system", check=False)
    result = control_plane.kubectl(
        "apply", "--dry-run=server", "--server-side", "-k", str(MANIFESTS / "default")
    )
    assert "deployment.apps/kaito-manager serverside-applied (server dry run)" in result.stdout
    assert "deployment.apps/kaito-provisioner serverside-applied (server dry run)" in result.stdout


def test_deployments_are_hardened(control_plane: ControlPlane) -> None:
    rendered = control_plane.kubectl("kustomize", str(MANIFESTS / "default")).stdout
    deployments = [o for o in yaml.safe_load_all(rendered) if o and o["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} == {"kaito-manager", "kaito-provisioner"}
    for deployment in deployments:
        spec = deployment["spec"]
        assert spec["replicas"] == 2
        pod = spec["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        (container,) = pod["containers"]
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["capabilities"]["drop"] == ["ALL"]
        assert security["allowPrivilegeEscalation"] is False
        assert container["resources"]["limits"] and container["resources"]["requests"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert "--leader-elect" in container["args"]
        assert container["image"].startswith("mcr.microsoft.com/aks/kaito/kaito-operator:")
