"""The CRDs on a real API server: schema accepts the samples, columns, explain, versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kaito.api import nodeclaim_from_dict, nodeclaim_to_dict, workspace_from_dict, workspace_to_dict
from kaito.testenv import ControlPlane
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[3]
SAMPLES = sorted((REPO / "manifests" / "samples").glob("*.yaml"))


def _apply(plane: ControlPlane, namespace: str, doc: dict[str, Any]) -> None:
    plane.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(doc))


def _get(plane: ControlPlane, resource: str, name: str, namespace: str) -> dict[str, Any]:
    out = plane.kubectl("get", resource, name, "-n", namespace, "-o", "json").stdout
    data: dict[str, Any] = json.loads(out)
    return data


def _table(text: str) -> list[dict[str, str]]:
    """Rows of a kubectl table as {column: cell}, cut at the header's column starts
    (an empty cell is "", which str.split() would lose)."""
    header, *rows = text.splitlines()
    names = header.split()
    starts = [header.index(f" {n}") + 1 if i else 0 for i, n in enumerate(names)]
    ends = [*starts[1:], None]
    return [
        {n: row[a:b].strip() for n, a, b in zip(names, starts, ends, strict=True)} for row in rows
    ]


def _header(plane: ControlPlane, resource: str, namespace: str) -> list[str]:
    out = plane.kubectl("get", resource, "-n", namespace).stdout
    return out.splitlines()[0].split()


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_schema_accepts_every_sample_unchanged(
    crds: ControlPlane, namespace: str, path: Path
) -> None:
    doc = yaml.safe_load(path.read_text())
    crds.kubectl("apply", "-n", namespace, "-f", str(path))
    stored = _get(crds, "workspace", doc["metadata"]["name"], namespace)
    # Nothing pruned: every field of the sample reads back (plus API server defaults).
    for key in ("resource", "inference", "tuning"):
        if key in doc:
            _assert_contains(stored[key], doc[key], key)
    # Our typed model reads the stored object and writes it back identically.
    assert workspace_to_dict(workspace_from_dict(stored)) == stored


def _assert_contains(actual: Any, expected: Any, path: str) -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        for k, v in expected.items():
            assert k in actual, f"{path}.{k} was pruned"
            _assert_contains(actual[k], v, f"{path}.{k}")
    else:
        assert actual == expected, path


def test_defaults_applied(crds: ControlPlane, namespace: str) -> None:
    doc = yaml.safe_load((REPO / "manifests/samples/workspace-phi-3-mini-v1beta1.yaml").read_text())
    _apply(crds, namespace, doc)
    stored = _get(crds, "workspace", doc["metadata"]["name"], namespace)
    assert stored["resource"]["count"] == 1
    assert stored["inference"]["preset"]["accessMode"] == "public"
    alpha = {
        "apiVersion": "kaito.sh/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": "no-instance-type"},
        "resource": {"labelSelector": {"matchLabels": {"a": "b"}}},
        "inference": {"preset": {"name": "phi-3-mini-4k-instruct"}},
    }
    _apply(crds, namespace, alpha)
    stored = _get(crds, "workspaces.v1alpha1.kaito.sh", "no-instance-type", namespace)
    assert stored["resource"]["instanceType"] == "Standard_NC24ads_A100_v4"


def test_printer_columns_for_both_versions(crds: ControlPlane, namespace: str) -> None:
    crds.kubectl(
        "apply", "-n", namespace, "-f", str(REPO / "manifests/samples/workspace-phi-3-mini.yaml")
    )
    assert _header(crds, "workspaces.v1alpha1.kaito.sh", namespace) == [
        "NAME",
        "INSTANCE",
        "RESOURCEREADY",
        "INFERENCEREADY",
        "WORKSPACEREADY",
        "AGE",
    ]
    beta = [
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
    assert _header(crds, "workspaces.v1beta1.kaito.sh", namespace) == beta
    # The preferred (storage) version is what plain `kubectl get workspace` and the short
    # names show.
    assert _header(crds, "workspace", namespace) == beta
    assert _header(crds, "wk", namespace) == beta


def test_status_subresource_feeds_the_columns(crds: ControlPlane, namespace: str) -> None:
    crds.kubectl(
        "apply", "-n", namespace, "-f", str(REPO / "manifests/samples/workspace-phi-3-mini.yaml")
    )
    now = "2026-01-01T00:00:00Z"
    conditions = [
        {"type": t, "status": "True", "reason": "Ok", "message": "", "lastTransitionTime": now}
        for t in ("ResourceReady", "InferenceReady", "WorkspaceReady", "WorkspaceSucceeded")
    ]
    patch = {
        "status": {
            "conditions": conditions,
            "state": "Ready",
            "targetNodeCount": 1,
            "workerNodes": ["node-1"],
        }
    }
    crds.kubectl(
        "patch",
        "workspace",
        "workspace-phi-3-mini",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(patch),
    )
    (alpha,) = _table(crds.kubectl("get", "workspaces.v1alpha1.kaito.sh", "-n", namespace).stdout)
    assert alpha["NAME"] == "workspace-phi-3-mini"
    assert alpha["INSTANCE"] == "Standard_NC6s_v3"
    assert (alpha["RESOURCEREADY"], alpha["INFERENCEREADY"], alpha["WORKSPACEREADY"]) == (
        "True",
        "True",
        "True",
    )
    (beta,) = _table(crds.kubectl("get", "workspace", "-n", namespace).stdout)
    assert beta["INSTANCE"] == "Standard_NC6s_v3"
    assert (beta["RESOURCEREADY"], beta["INFERENCEREADY"], beta["WORKSPACESUCCEEDED"]) == (
        "True",
        "True",
        "True",
    )
    assert beta["JOBSTARTED"] == ""  # no JobStarted condition on an inference workspace
    assert (beta["TARGETNODECOUNT"], beta["STATE"]) == ("1", "Ready")
    # A write to the main resource cannot change status.
    crds.kubectl(
        "patch",
        "workspace",
        "workspace-phi-3-mini",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"status": {"state": "Failed"}}),
    )
    assert _get(crds, "workspace", "workspace-phi-3-mini", namespace)["status"]["state"] == "Ready"
    stored = _get(crds, "workspace", "workspace-phi-3-mini", namespace)
    ws = workspace_from_dict(stored)
    ready = ws.condition("WorkspaceReady")
    assert ready is not None and ready.is_true


def test_kubectl_explain_prints_descriptions(crds: ControlPlane) -> None:
    def explain(path: str) -> str:
        result: list[str] = []

        def ok() -> bool:
            proc = crds.kubectl("explain", *path.split(), check=False)
            result[:] = [proc.stdout]
            return proc.returncode == 0

        # The OpenAPI document is published a moment after the CRD is established.
        wait_until(ok, timeout=30, what=f"kubectl explain {path}")
        return result[0]

    text = explain("workspace.resource.instanceType")
    assert "InstanceType is the GPU VM size of the nodes" in text
    assert "kaito.sh/bypass-resource-checks" in text
    adapters = explain("workspace.inference.adapters")
    assert "LoRA adapters applied to the preset model, at most 10" in adapters
    assert "strength" in adapters
    alpha = explain("workspace.resource.instanceType --api-version=kaito.sh/v1alpha1")
    assert 'v1alpha1 defaults it to "Standard_NC24ads_A100_v4" when unset' in alpha
    nodeclaim = explain("nodeclaim.spec.requirements")
    assert "node.kubernetes.io/instance-type" in nodeclaim


def test_v1alpha1_object_reads_back_as_v1beta1_and_back(crds: ControlPlane, namespace: str) -> None:
    path = REPO / "manifests/samples/workspace-phi-3-mini-with-adapters.yaml"
    doc = yaml.safe_load(path.read_text())
    assert doc["apiVersion"] == "kaito.sh/v1alpha1"
    crds.kubectl("apply", "-n", namespace, "-f", str(path))
    name = doc["metadata"]["name"]
    as_alpha = _get(crds, "workspaces.v1alpha1.kaito.sh", name, namespace)
    as_beta = _get(crds, "workspaces.v1beta1.kaito.sh", name, namespace)
    assert as_alpha["apiVersion"] == "kaito.sh/v1alpha1"
    assert as_beta["apiVersion"] == "kaito.sh/v1beta1"
    for key in ("resource", "inference"):
        assert as_alpha[key] == as_beta[key]
    assert as_beta["inference"]["adapters"] == doc["inference"]["adapters"]

    # And the reverse: written as v1beta1, read as v1alpha1.
    beta_doc = yaml.safe_load(
        (REPO / "manifests/samples/workspace-custom-template.yaml").read_text()
    )
    _apply(crds, namespace, beta_doc)
    name = beta_doc["metadata"]["name"]
    back = _get(crds, "workspaces.v1alpha1.kaito.sh", name, namespace)
    assert back["apiVersion"] == "kaito.sh/v1alpha1"
    assert back["inference"]["template"] == beta_doc["inference"]["template"]
    ws = workspace_from_dict(back)
    assert ws.api_version == "kaito.sh/v1alpha1" and ws.inference is not None


def test_schema_rejects_wrong_types(crds: ControlPlane, namespace: str) -> None:
    bad = {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": "bad-types"},
        "resource": {"count": "two", "labelSelector": {"matchLabels": {"a": "b"}}},
        "inference": {"preset": {"name": "phi-3-mini-4k-instruct"}},
    }
    proc = crds.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(bad), check=False)
    assert proc.returncode != 0
    assert "resource.count" in proc.stderr
    no_selector = dict(bad, resource={"instanceType": "Standard_NC6s_v3"})
    proc = crds.kubectl(
        "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(no_selector), check=False
    )
    assert proc.returncode != 0
    assert "labelSelector" in proc.stderr


def test_nodeclaim_round_trip(crds: ControlPlane) -> None:
    name = "wsapitest01"
    doc = {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodeClaim",
        "metadata": {
            "name": name,
            "labels": {"karpenter.sh/nodepool": "kaito", "kaito.sh/workspace": "w"},
            "annotations": {"karpenter.sh/do-not-disrupt": "true"},
        },
        "spec": {
            "requirements": [
                {
                    "key": "node.kubernetes.io/instance-type",
                    "operator": "In",
                    "values": ["Standard_NC6s_v3"],
                },
                {"key": "karpenter.sh/nodepool", "operator": "In", "values": ["kaito"]},
                {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
            ],
            "resources": {"requests": {"storage": "80Gi"}},
            "taints": [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}],
            "nodeClassRef": {"group": "kaito.sh", "kind": "KaitoNodeClass", "name": "default"},
        },
    }
    crds.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc))
    try:
        status = {
            "status": {
                "providerID": "kwok://wsapitest01",
                "nodeName": "wsapitest01",
                "imageID": "img-1",
                "capacity": {"nvidia.com/gpu": "1", "cpu": "6"},
                "allocatable": {"nvidia.com/gpu": 1},
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "Ready",
                        "message": "",
                        "lastTransitionTime": "2026-01-01T00:00:00Z",
                    }
                ],
            }
        }
        crds.kubectl(
            "patch",
            "nodeclaim",
            name,
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps(status),
        )
        stored = json.loads(crds.kubectl("get", "nodeclaim", name, "-o", "json").stdout)
        nc = nodeclaim_from_dict(stored)
        assert nc.spec.instance_type == "Standard_NC6s_v3"
        assert nc.status is not None and nc.status.provider_id == "kwok://wsapitest01"
        assert nc.status.allocatable == {"nvidia.com/gpu": 1}
        ready = nc.condition("Ready")
        assert ready is not None and ready.is_true
        assert nodeclaim_to_dict(nc) == stored
        header = crds.kubectl("get", "nodeclaim", name).stdout.splitlines()[0].split()
        assert header == ["NAME", "TYPE", "NODE", "READY", "AGE"]
    finally:
        crds.kubectl("delete", "nodeclaim", name, "--wait=false", check=False)
