"""Bring your own GPU nodes: with node auto-provisioning off, kaito creates no NodeClaims,
says clearly when no node matches, and runs on the nodes a user labels."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from kaito.testenv import ControlPlane
from tests.e2e.conftest import Operator, install_crds
from tests.e2e.helpers import apply_workspace, nodeclaims_of, sample, wait_ready, workspace
from tests.support.kwok_nodes import gpu_node
from tests.support.waiting import apply, condition, wait_until


@pytest.fixture
def byo_operator(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    install_crds(control_plane)
    op = Operator(
        control_plane, tmp_path_factory.mktemp("byo"), ["--disable-node-auto-provisioning"]
    )
    op.start()
    try:
        yield op
    finally:
        op.stop()


def test_byo_waits_for_labelled_nodes_then_runs_on_them(
    byo_operator: Operator, control_plane: ControlPlane, namespace: str
) -> None:
    tag = f"byo-{uuid.uuid4().hex[:6]}"
    ws = sample("workspace-phi-3-mini.yaml")
    # BYO: no VM size. v1beta1, because v1alpha1's CRD defaults instanceType (as upstream).
    ws["apiVersion"] = "kaito.sh/v1beta1"
    del ws["resource"]["instanceType"]
    ws["resource"]["labelSelector"]["matchLabels"] = {"apps": tag}
    name = ws["metadata"]["name"]
    apply_workspace(control_plane, ws, namespace)

    def waiting() -> dict | None:
        cond = condition(workspace(control_plane, name, namespace), "ResourceReady")
        return cond if cond and cond["reason"] == "NodeNotReady" else None

    cond = wait_until(waiting, what="ResourceReady NodeNotReady")
    assert f"apps={tag}" in cond["message"]
    assert "auto-provisioning is disabled" in cond["message"]
    assert nodeclaims_of(control_plane, name, namespace) == []

    node = f"gpu-{tag}"
    apply(control_plane, gpu_node(node, gpus=1, labels={"apps": tag}))
    try:
        ready = wait_ready(control_plane, name, namespace)
        assert ready["status"]["workerNodes"] == [node]
        assert nodeclaims_of(control_plane, name, namespace) == []
    finally:
        control_plane.kubectl("delete", "workspace", name, "-n", namespace, "--wait=false")
        control_plane.kubectl("delete", "node", node, "--ignore-not-found", check=False)
