"""Table tests: what may and may not change on an existing Workspace."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kaito.api import workspace_from_dict
from kaito.api.validation import validate_update
from tests.unit.api.api_builders import inference_dict, tuning_dict

INF = inference_dict()
TUN = tuning_dict()


def _changed(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(base)
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return data


CASES: list[tuple[str, dict[str, Any], str, Any, str]] = [
    ("count", inference_dict(count=1), "resource.count", 2, "field is immutable: resource.count"),
    (
        "instanceType",
        INF,
        "resource.instanceType",
        "Standard_NC48ads_A100_v4",
        "instanceType cannot be changed once set when node auto-provisioning is enabled: "
        "resource.instanceType",
    ),
    (
        "instanceType removed",
        INF,
        "resource.instanceType",
        ...,
        "instanceType is required when node auto-provisioning is enabled: resource.instanceType",
    ),
    (
        "labelSelector",
        INF,
        "resource.labelSelector",
        {"matchLabels": {"apps": "other"}},
        "field is immutable: resource.labelSelector",
    ),
    (
        "labelSelector not a map",
        INF,
        "resource.labelSelector",
        {"matchExpressions": [{"key": "a", "operator": "Exists"}]},
        "Only allow matchLabels or 'IN' matchExpression: resource.labelSelector",
    ),
    (
        "partition",
        INF,
        "resource.partition",
        {"mode": "mig", "profile": "1g.10gb"},
        "field is immutable: resource.partition",
    ),
    (
        "inference preset",
        INF,
        "inference.preset",
        {"name": "phi-3-mini-128k-instruct"},
        "field is immutable: inference.preset",
    ),
    (
        "inference turned into tuning",
        INF,
        "inference",
        ...,
        "Inference field cannot be toggled once set: inference",
    ),
    (
        "template set on a preset workspace",
        INF,
        "inference.template",
        {"spec": {"containers": []}},
        "field cannot be unset/set if it was set/unset: inference.template",
    ),
    (
        "adapter with bad strength",
        INF,
        "inference.adapters",
        [{"source": {"name": "a1", "image": "registry.example.com/a:1"}, "strength": "2"}],
        "Strength value for Adapter 'a1' must be between 0 and 1: inference.adapters[0].strength",
    ),
    (
        "adapters duplicated",
        INF,
        "inference.adapters",
        [
            {"source": {"name": "a", "image": "r.io/a:1"}},
            {"source": {"name": "a", "image": "r.io/b:1"}},
        ],
        "Duplicate adapter source name found: a: inference.adapters[1].source.name",
    ),
    (
        "tuning preset",
        TUN,
        "tuning.preset",
        {"name": "phi-3-mini-128k-instruct"},
        "Preset cannot be changed: tuning.preset",
    ),
    ("tuning method", TUN, "tuning.method", "lora", "Method cannot be changed: tuning.method"),
    (
        "tuning input name",
        TUN,
        "tuning.input.name",
        "renamed",
        "invalid value: During tuning Name field cannot be changed once set: tuning.input.name",
    ),
    ("tuning input removed", TUN, "tuning.input", ..., "missing field(s): tuning.input"),
    ("tuning output removed", TUN, "tuning.output", ..., "missing field(s): tuning.output"),
    (
        "tuning input URL changed to an internal address",
        TUN,
        "tuning.input.urls",
        ["http://10.0.0.5/data.parquet"],
        "invalid value: data source URL must not target a loopback, private, or link-local "
        "address: tuning.input.urls[0]",
    ),
    (
        "tuning output image unparsable",
        TUN,
        "tuning.output.image",
        "registry.example.com/out:bad tag",
        "invalid value: Unable to parse output image reference: invalid reference format: "
        "tuning.output.image",
    ),
    (
        "tuning removed",
        TUN,
        "tuning",
        ...,
        "Tuning field cannot be toggled once set: tuning",
    ),
]


@pytest.mark.parametrize(
    ("base", "path", "value", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_update_rule(base: dict[str, Any], path: str, value: Any, expected: str) -> None:
    old = workspace_from_dict(base)
    new = workspace_from_dict(_changed(base, path, value))
    result = validate_update(old, new)
    assert expected in result.errors, result.errors


@pytest.mark.parametrize(
    ("base", "path", "value"),
    [
        (INF, "inference.adapters", [{"source": {"name": "a1", "image": "r.io/a:1"}}]),
        (INF, "inference.config", "my-inference-config"),
        (INF, "metadata.annotations", {"team": "ml"}),
        (INF, "metadata.finalizers", ["workspace.finalizer.kaito.sh"]),
        (INF, "status", {"conditions": []}),
        (TUN, "tuning.input.urls", ["https://example.com/other.parquet"]),
        (TUN, "tuning.output", {"volumeSource": {"emptyDir": {}}}),
        (TUN, "tuning.method", "QLORA"),
    ],
)
def test_allowed_updates(base: dict[str, Any], path: str, value: Any) -> None:
    old = workspace_from_dict(base)
    assert validate_update(old, workspace_from_dict(_changed(base, path, value))).errors == []


def test_template_content_may_change() -> None:
    base = inference_dict()
    base["inference"] = {"template": {"spec": {"containers": [{"name": "a", "image": "x:1"}]}}}
    new = _changed(
        base, "inference.template", {"spec": {"containers": [{"name": "a", "image": "x:2"}]}}
    )
    assert validate_update(workspace_from_dict(base), workspace_from_dict(new)).errors == []


def test_count_defaulting_is_not_a_change() -> None:
    old = workspace_from_dict(inference_dict())
    new = workspace_from_dict(inference_dict(count=3))
    assert validate_update(old, new).errors == []


def test_deleting_object_is_never_blocked() -> None:
    old = workspace_from_dict(INF)
    new_data = _changed(INF, "resource.instanceType", "Standard_NC48ads_A100_v4")
    new_data["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert validate_update(old, workspace_from_dict(new_data)).allowed


def test_several_immutable_fields_merge_into_one_line() -> None:
    old = workspace_from_dict(inference_dict(count=1))
    new_data = _changed(
        inference_dict(count=2), "resource.labelSelector", {"matchLabels": {"x": "y"}}
    )
    errors = validate_update(old, workspace_from_dict(new_data)).errors
    assert "field is immutable: resource.count, resource.labelSelector" in errors


def test_byo_instance_type_rules() -> None:
    byo = inference_dict()
    del byo["resource"]["instanceType"]
    set_now = _changed(byo, "resource.instanceType", "Standard_NC6s_v3")
    errors = validate_update(
        workspace_from_dict(byo), workspace_from_dict(set_now), node_auto_provisioning=False
    ).errors
    assert errors == [
        "invalid value: instanceType must be empty when node auto-provisioning is disabled "
        "(BYO scenario): resource.instanceType"
    ]
    legacy = inference_dict()
    cleared = _changed(legacy, "resource.instanceType", ...)
    assert (
        validate_update(
            workspace_from_dict(legacy), workspace_from_dict(cleared), node_auto_provisioning=False
        ).errors
        == []
    )
    changed = _changed(legacy, "resource.instanceType", "Standard_NC6s_v3")
    assert validate_update(
        workspace_from_dict(legacy), workspace_from_dict(changed), node_auto_provisioning=False
    ).errors == ["invalid value: instanceType cannot be changed once set: resource.instanceType"]
