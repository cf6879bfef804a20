"""The wire form: lossless round trips, camelCase keys, strict scalars, both versions."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings

from kaito.api import (
    Condition,
    LabelSelector,
    NodeClaim,
    NodeClaimSpec,
    NodeClaimStatus,
    NodeClassReference,
    NodeSelectorRequirement,
    PresetSpec,
    ResourceSpec,
    WireError,
    Workspace,
    from_dict,
    nodeclaim_from_dict,
    nodeclaim_to_dict,
    to_dict,
    workspace_from_dict,
    workspace_to_dict,
)
from kaito.api.workspace import InferenceSpec
from tests.unit.api import api_strategies as strat

SAMPLE_DIR = Path(__file__).parents[3] / "manifests" / "samples"
SAMPLES = sorted(SAMPLE_DIR.glob("*.yaml"))
ADAPTER_EXAMPLE = SAMPLE_DIR / "workspace-phi-3-mini-with-adapters.yaml"  # upstream's, unchanged


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_example_round_trips(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    ws = workspace_from_dict(data)
    assert workspace_to_dict(ws) == data


@settings(max_examples=150, deadline=None)
@given(strat.workspaces)
def test_any_workspace_dict_round_trips(data: dict[str, Any]) -> None:
    original = copy.deepcopy(data)
    ws = workspace_from_dict(data)
    out = workspace_to_dict(ws)
    assert out == original
    assert workspace_from_dict(out) == ws
    assert data == original, "reading must not mutate the input"


@settings(max_examples=100, deadline=None)
@given(strat.nodeclaims)
def test_any_nodeclaim_dict_round_trips(data: dict[str, Any]) -> None:
    nc = nodeclaim_from_dict(data)
    assert nodeclaim_to_dict(nc) == data


def test_schemaless_parts_kept_as_is_and_copied() -> None:
    template = {
        "metadata": {"labels": {"x": "y"}},
        "spec": {"containers": [{"name": "c", "image": "i", "futureField": {"a": [1, None]}}]},
    }
    data = {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": "t", "managedFields": [{"manager": "kubectl"}]},
        "resource": {"labelSelector": {"matchLabels": {"a": "b"}}},
        "inference": {"template": template},
    }
    ws = workspace_from_dict(data)
    assert ws.inference is not None
    assert ws.inference.template == template
    assert ws.inference.template is not template  # a copy: mutating one never changes the other
    out = workspace_to_dict(ws)
    assert out == data
    out["inference"]["template"]["spec"]["containers"][0]["image"] = "changed"
    assert ws.inference.template["spec"]["containers"][0]["image"] == "i"


def test_camel_case_and_initialisms() -> None:
    nc = NodeClaim(
        metadata={"name": "ws1a2b3c4d5"},
        spec=NodeClaimSpec(
            requirements=[
                NodeSelectorRequirement(
                    key="node.kubernetes.io/instance-type",
                    operator="In",
                    values=["Standard_NC6s_v3"],
                )
            ],
            node_class_ref=NodeClassReference(
                group="kaito.sh", kind="KaitoNodeClass", name="default"
            ),
        ),
        status=NodeClaimStatus(provider_id="azure:///x", image_id="img", node_name="aks-ws-1"),
    )
    out = to_dict(nc)
    assert out["status"] == {"providerID": "azure:///x", "imageID": "img", "nodeName": "aks-ws-1"}
    assert out["spec"]["nodeClassRef"] == {
        "group": "kaito.sh",
        "kind": "KaitoNodeClass",
        "name": "default",
    }
    assert nc.spec.instance_type == "Standard_NC6s_v3"
    assert from_dict(NodeClaim, out) == nc


def test_defaults_are_omitted_but_required_keys_written() -> None:
    ws = Workspace(
        metadata={"name": "w"},
        resource=ResourceSpec(
            instance_type="Standard_NC6s_v3", label_selector=LabelSelector(match_labels={"a": "b"})
        ),
        inference=InferenceSpec(preset=PresetSpec(name="phi-3-mini-4k-instruct")),
    )
    assert workspace_to_dict(ws) == {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": "w"},
        "resource": {
            "instanceType": "Standard_NC6s_v3",
            "labelSelector": {"matchLabels": {"a": "b"}},
        },
        "inference": {"preset": {"name": "phi-3-mini-4k-instruct"}},
    }
    cond = Condition(type="ResourceReady", status="False")
    assert to_dict(cond) == {
        "type": "ResourceReady",
        "status": "False",
        "reason": "",
        "message": "",
        "lastTransitionTime": "",
    }


def test_empty_lists_and_strings_survive() -> None:
    data = {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {},
        "resource": {
            "instanceType": "",
            "preferredNodes": [],
            "labelSelector": {"matchLabels": {}},
        },
        "inference": {"adapters": [], "config": ""},
        "status": {},
    }
    assert workspace_to_dict(workspace_from_dict(data)) == data


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"resource": {"count": "2"}}, "resource.count: expected integer, got str '2'"),
        ({"resource": {"count": True}}, "resource.count: expected integer, got boolean True"),
        ({"resource": {"instanceType": 5}}, "resource.instanceType: expected string, got int 5"),
        ({"inference": {"preset": {}}}, "inference.preset.name: required field is missing"),
        ({"inference": {"adapters": [{"strength": 1.0}]}}, "inference.adapters[0].strength"),
        ({"resource": []}, "resource: expected an object, got list"),
        ({"metadata": "x"}, "metadata"),
    ],
)
def test_wrong_shapes_are_wire_errors(data: dict[str, Any], problem: str) -> None:
    with pytest.raises(WireError) as err:
        workspace_from_dict(data)
    assert problem in str(err.value)


def test_not_a_mapping() -> None:
    with pytest.raises(WireError, match="expected an object, got list"):
        workspace_from_dict([])  # type: ignore[arg-type]


def test_v1alpha1_and_v1beta1_share_one_shape() -> None:
    """No conversion webhook: an object of one version reads as the other by its apiVersion."""
    alpha = yaml.safe_load(ADAPTER_EXAMPLE.read_text())
    assert alpha["apiVersion"] == "kaito.sh/v1alpha1"
    as_beta = dict(alpha, apiVersion="kaito.sh/v1beta1")
    ws_alpha = workspace_from_dict(alpha)
    ws_beta = workspace_from_dict(as_beta)
    assert ws_alpha.api_version == "kaito.sh/v1alpha1"
    assert ws_beta.api_version == "kaito.sh/v1beta1"
    # Everything but apiVersion is identical, in both directions.
    beta_out = workspace_to_dict(ws_beta)
    assert {k: v for k, v in beta_out.items() if k != "apiVersion"} == {
        k: v for k, v in alpha.items() if k != "apiVersion"
    }
    back = workspace_to_dict(workspace_from_dict(dict(beta_out, apiVersion="kaito.sh/v1alpha1")))
    assert back == alpha


def test_convenience_accessors() -> None:
    data = yaml.safe_load(ADAPTER_EXAMPLE.read_text())
    data["metadata"].update(
        {
            "namespace": "ns",
            "uid": "u",
            "generation": 3,
            "resourceVersion": "7",
            "annotations": {"a": "b"},
            "labels": {"l": "v"},
            "finalizers": ["f"],
        }
    )
    data["status"] = {
        "conditions": [
            {
                "type": "ResourceReady",
                "status": "True",
                "reason": "r",
                "message": "",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ]
    }
    ws = workspace_from_dict(data)
    assert (ws.namespace, ws.uid, ws.generation, ws.resource_version) == ("ns", "u", 3, "7")
    assert ws.annotations == {"a": "b"} and ws.labels == {"l": "v"} and ws.finalizers == ["f"]
    assert ws.preset_name == "phi-3-mini-128k-instruct"
    assert not ws.is_tuning and not ws.deleting
    cond = ws.condition("ResourceReady")
    assert cond is not None and cond.is_true
    assert ws.condition("InferenceReady") is None
    assert ws.resource.node_count == 1
