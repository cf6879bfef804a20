"""Pod failure reasons produced by a real kubelet, in the conditions and in ``kaito status``.

Custom-template Workspaces on a CPU instance type run on a real node: one names an image the
local registry does not have, one runs a command that exits. The reasons kaito reports come
from what the real kubelet wrote into the pod's status, not from a simulation.
"""

from __future__ import annotations

from typing import Any

import pytest

from kaito.testenv import ControlPlane
from tests.e2e.conftest import Operator
from tests.e2e.helpers import apply_workspace, nodeclaims_of, workspace
from tests.e2e.realnode.conftest import LOCAL_REGISTRY
from tests.e2e.test_status_cli import kaito_status
from tests.support.waiting import condition, wait_until


def template_workspace(name: str, container: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": name},
        "resource": {
            "instanceType": "Standard_D4s_v5",
            "labelSelector": {"matchLabels": {"apps": name}},
        },
        "inference": {"template": {"spec": {"containers": [container]}}},
    }


def wait_reason(plane: ControlPlane, name: str, namespace: str, reason: str) -> dict[str, Any]:
    def seen() -> dict[str, Any] | None:
        cond = condition(workspace(plane, name, namespace), "InferenceReady")
        return cond if cond is not None and cond.get("reason") == reason else None

    found: dict[str, Any] = wait_until(
        seen, timeout=300, interval=1, what=f"{namespace}/{name} InferenceReady={reason}"
    )
    return found


@pytest.mark.parametrize(
    ("name", "container", "reason", "words"),
    [
        (
            "missing-image",
            {"name": "server", "image": f"{LOCAL_REGISTRY}/kaito/no-such-image:1"},
            "ImagePullError",
            "code = notfound",  # the registry's answer, through containerd and the kubelet
        ),
        (
            "crashing-command",
            {
                "name": "server",
                "image": "PULLER",
                "command": ["sh", "-c", "echo the model server gave up >&2; exit 3"],
            },
            "ContainerCrashLoopBackOff",
            "last exit code 3",
        ),
    ],
)
def test_a_real_kubelets_failure_shows_as_the_workspace_reason(
    real_operator: Operator,
    control_plane: ControlPlane,
    local_artifacts: dict[str, str],
    namespace: str,
    name: str,
    container: dict[str, Any],
    reason: str,
    words: str,
) -> None:
    if container["image"] == "PULLER":
        container = {**container, "image": local_artifacts["KAITO_PULLER_IMAGE"]}
    apply_workspace(control_plane, template_workspace(name, container), namespace)
    cond = wait_reason(control_plane, name, namespace, reason)
    assert cond["status"] == "False"
    assert words in cond["message"].lower(), cond
    out = kaito_status(control_plane, name, namespace)
    assert reason in out, out
    if reason == "ContainerCrashLoopBackOff":

        def previous_logs() -> str:
            got = control_plane.kubectl(
                "logs",
                "-n",
                namespace,
                "-l",
                f"kaito.sh/workspace={name}",
                "--previous",
                check=False,
            )
            return got.stdout if "the model server gave up" in got.stdout else ""

        wait_until(previous_logs, timeout=60, interval=1, what="the crashed run's logs")
    control_plane.kubectl("delete", "workspace", name, "-n", namespace, "--timeout=180s")
    wait_until(  # the real node is gone too: the next test gets this machine's one node
        lambda: not nodeclaims_of(control_plane, name, namespace),
        timeout=180,
        what=f"{name}'s NodeClaim deleted",
    )
