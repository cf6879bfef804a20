"""``kaito status`` on Workspaces stuck at each stage, against the running operator."""

from __future__ import annotations

import subprocess
import sys

from kaito.testenv import ControlPlane
from tests.e2e.conftest import REPO, Operator
from tests.e2e.helpers import apply_workspace, fail_image_pull, sample, wait_ready, workspace
from tests.support.waiting import condition, get_json, wait_until


def kaito_status(plane: ControlPlane, name: str, namespace: str) -> str:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kaito.cli",
            "status",
            name,
            "-n",
            namespace,
            f"--kubeconfig={plane.kubeconfig}",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    return result.stdout


def test_status_explains_a_node_the_cloud_refused(
    operator: Operator, control_plane: ControlPlane, namespace: str
) -> None:
    ws = sample("workspace-phi-3-mini.yaml")
    ws["metadata"]["name"] = "no-such-sku"
    # Unknown Standard_N* sizes pass admission (upstream allows them); the cloud refuses it.
    ws["resource"]["instanceType"] = "Standard_NC96_imaginary"
    apply_workspace(control_plane, ws, namespace)

    def refused() -> dict | None:
        cond = condition(workspace(control_plane, "no-such-sku", namespace), "ResourceReady")
        return cond if cond and cond["reason"] == "SkuNotAvailable" else None

    cond = wait_until(refused, timeout=60, what="ResourceReady shows the cloud's refusal")
    assert "Standard_NC96_imaginary" in cond["message"]
    out = kaito_status(control_plane, "no-such-sku", namespace)
    assert out.startswith("NODES: waiting for nodes: NodeClaim ")
    assert "failed to launch: SkuNotAvailable" in out
    assert "What to do:" in out


def test_status_explains_ready_and_an_image_pull_failure(
    operator: Operator, control_plane: ControlPlane, namespace: str
) -> None:
    ws = sample("workspace-phi-3-mini.yaml")
    name = ws["metadata"]["name"]
    apply_workspace(control_plane, ws, namespace)
    wait_ready(control_plane, name, namespace)
    assert kaito_status(control_plane, name, namespace).startswith(f"READY: workspace {name}")

    pod = get_json(control_plane, "pods", "-n", namespace, "-l", f"kaito.sh/workspace={name}")
    pod_name = pod["items"][0]["metadata"]["name"]
    fail_image_pull(control_plane, namespace, pod_name, name, "not found")
    wait_until(
        lambda: (
            (c := condition(workspace(control_plane, name, namespace), "InferenceReady"))
            and c["reason"] == "ImagePullError"
        ),
        what="InferenceReady ImagePullError",
    )
    out = kaito_status(control_plane, name, namespace)
    assert out.startswith("WORKLOAD:")
    assert "ImagePullError" in out
    assert "imagePullSecret" in out
