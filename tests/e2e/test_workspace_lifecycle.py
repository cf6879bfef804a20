"""A user's whole journey through kubectl: apply -> nodes -> workload -> ready -> delete."""

from __future__ import annotations

import pytest

from kaito.testenv import ControlPlane
from tests.e2e.conftest import Operator
from tests.e2e.helpers import (
    apply_workspace,
    fail_image_pull,
    nodeclaims_of,
    sample,
    wait_ready,
    workspace,
)
from tests.support.waiting import condition, get_json, wait_until


@pytest.mark.parametrize(
    "sample_file",
    ["workspace-phi-3-mini.yaml", "workspace-phi-3-mini-with-adapters.yaml"],
)
def test_inference_example_becomes_ready_and_shows_columns(
    operator: Operator, control_plane: ControlPlane, namespace: str, sample_file: str
) -> None:
    ws = sample(sample_file)
    name = ws["metadata"]["name"]
    apply_workspace(control_plane, ws, namespace)
    ready = wait_ready(control_plane, name, namespace)
    assert ready["status"]["workerNodes"]

    # v1alpha1, as in upstream's quick start (discovery prefers v1beta1 for plain `workspace`)
    table = control_plane.kubectl(
        "get", "workspaces.v1alpha1.kaito.sh", name, "-n", namespace
    ).stdout.splitlines()
    assert table[0].split() == [
        "NAME",
        "INSTANCE",
        "RESOURCEREADY",
        "INFERENCEREADY",
        "WORKSPACEREADY",
        "AGE",
    ]
    assert table[1].split()[:5] == [name, "Standard_NC6s_v3", "True", "True", "True"]
    beta = control_plane.kubectl("get", "workspace", name, "-n", namespace).stdout.splitlines()
    assert beta[0].split() == [
        "NAME",
        "INSTANCE",
        "RESOURCEREADY",
        "INFERENCEREADY",
        "JOBSTARTED",
        "WORKSPACESUCCEEDED",
        "TARGETNODECOUNT",
        "STATE",
        "AGE",
    ]
    assert beta[1].split()[:4] == [name, "Standard_NC6s_v3", "True", "True"]
    assert beta[1].split()[4:7] == ["True", "1", "Ready"]

    svc = control_plane.kubectl("get", "svc", name, "-n", namespace).stdout.splitlines()
    assert svc[1].split()[1] == "ClusterIP"
    assert svc[1].split()[4] == "80/TCP,6379/TCP"
    assert get_json(control_plane, "svc", f"{name}-headless", "-n", namespace) is not None

    claims = nodeclaims_of(control_plane, name, namespace)
    assert len(claims) == 1
    node = get_json(control_plane, "node", claims[0]["status"]["nodeName"])
    assert node is not None
    assert node["metadata"]["labels"]["accelerator"] == "nvidia"
    assert node["status"]["capacity"]["nvidia.com/gpu"] == "1"


def test_delete_removes_nodeclaims_nodes_and_workload(
    operator: Operator, control_plane: ControlPlane, namespace: str
) -> None:
    ws = sample("workspace-phi-3-mini.yaml")
    name = ws["metadata"]["name"]
    apply_workspace(control_plane, ws, namespace)
    ready = wait_ready(control_plane, name, namespace)
    nodes = ready["status"]["workerNodes"]
    claims = [c["metadata"]["name"] for c in nodeclaims_of(control_plane, name, namespace)]
    assert claims

    control_plane.kubectl("delete", "workspace", name, "-n", namespace, "--timeout=90s")
    assert workspace(control_plane, name, namespace) is None
    wait_until(
        lambda: not nodeclaims_of(control_plane, name, namespace),
        what="NodeClaims deleted",
    )
    for node in nodes:
        wait_until(
            lambda n=node: get_json(control_plane, "node", n) is None, what=f"node {node} gone"
        )
    wait_until(
        lambda: get_json(control_plane, "deployment", name, "-n", namespace) is None,
        what="deployment garbage-collected",
    )
    wait_until(
        lambda: get_json(control_plane, "svc", name, "-n", namespace) is None,
        what="service garbage-collected",
    )


def test_adding_an_adapter_rolls_the_workload_and_bumps_the_revision(
    operator: Operator, control_plane: ControlPlane, namespace: str
) -> None:
    ws = sample("workspace-phi-3-mini.yaml")
    name = ws["metadata"]["name"]
    apply_workspace(control_plane, ws, namespace)
    before = wait_ready(control_plane, name, namespace)
    assert before["metadata"]["annotations"]["workspace.kaito.io/revision"] == "1"
    generation = get_json(control_plane, "deployment", name, "-n", namespace)["metadata"][
        "generation"
    ]

    ws["inference"]["adapters"] = [
        {
            "source": {"name": "dolly", "image": "registry.invalid/adapters/dolly:1"},
            "strength": "0.5",
        }
    ]
    apply_workspace(control_plane, ws, namespace)

    def rolled() -> dict | None:
        dep = get_json(control_plane, "deployment", name, "-n", namespace)
        if dep and dep["metadata"]["generation"] > generation:
            return dep
        return None

    deployment = wait_until(rolled, what="deployment rolled with the adapter")
    pod = deployment["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["puller-dolly"]
    assert {"name": "dolly", "value": "0.5"} in pod["containers"][0]["env"]
    assert deployment["metadata"]["annotations"]["workspace.kaito.io/revision"] == "2"
    after = wait_ready(control_plane, name, namespace)
    assert after["metadata"]["annotations"]["workspace.kaito.io/revision"] == "2"
    revisions = get_json(
        control_plane,
        "controllerrevisions",
        "-n",
        namespace,
        "-l",
        f"workspace.kaito.io/name={name}",
    )
    assert sorted(r["revision"] for r in revisions["items"]) == [1, 2]


def test_image_pull_failure_shows_a_reason(
    operator: Operator, control_plane: ControlPlane, namespace: str
) -> None:
    ws = sample("workspace-phi-3-mini.yaml")
    name = ws["metadata"]["name"]
    apply_workspace(control_plane, ws, namespace)
    wait_ready(control_plane, name, namespace)
    pods = get_json(control_plane, "pods", "-n", namespace, "-l", f"kaito.sh/workspace={name}")
    pod_name = pods["items"][0]["metadata"]["name"]

    fail_image_pull(
        control_plane, namespace, pod_name, name, "Back-off pulling image: unauthorized"
    )

    def failing() -> dict | None:
        cond = condition(workspace(control_plane, name, namespace), "InferenceReady")
        return cond if cond and cond["status"] == "False" else None

    cond = wait_until(failing, what="InferenceReady False")
    assert cond["reason"] == "ImagePullError"
    assert "unauthorized" in cond["message"]
    table = control_plane.kubectl(
        "get", "workspaces.v1alpha1.kaito.sh", name, "-n", namespace
    ).stdout.splitlines()
    assert table[1].split()[2:5] == ["True", "False", "False"]
