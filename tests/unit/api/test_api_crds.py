"""The CRDs: generated manifests up to date, described fields, columns, types in sync."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml

from kaito.api import NodeClaim, Workspace
from kaito.api.crds import (
    NODECLAIM_CRD_FILE,
    WORKSPACE_CRD_FILE,
    manifests,
    nodeclaim_crd,
    workspace_crd,
)
from kaito.api.fields import wire_name

CRD_DIR = Path(__file__).parents[3] / "manifests" / "crd"


def test_manifests_are_up_to_date() -> None:
    for name, text in manifests().items():
        assert (CRD_DIR / name).read_text() == text, (
            f"manifests/crd/{name} is stale: run `python -m kaito.api.crds manifests/crd`"
        )
    kustomization = yaml.safe_load((CRD_DIR / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted([WORKSPACE_CRD_FILE, NODECLAIM_CRD_FILE])


def _walk(schema: dict[str, Any], path: str) -> list[tuple[str, dict[str, Any]]]:
    out = [(path, schema)]
    for name, sub in (schema.get("properties") or {}).items():
        out += _walk(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        out += _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        out += _walk(schema["additionalProperties"], f"{path}{{}}")
    return out


def _schemas() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for crd in (workspace_crd(), nodeclaim_crd()):
        for version in crd["spec"]["versions"]:
            out.append(
                (
                    f"{crd['metadata']['name']}/{version['name']}",
                    version["schema"]["openAPIV3Schema"],
                )
            )
    return out


@pytest.mark.parametrize(("name", "schema"), _schemas(), ids=[n for n, _ in _schemas()])
def test_every_field_has_a_description(name: str, schema: dict[str, Any]) -> None:
    missing = [
        path
        for path, node in _walk(schema, "")
        if path
        and path != ".metadata"
        and not path.endswith(("[]", "{}"))
        and not (node.get("description") or "").strip()
    ]
    assert missing == [], f"{name}: fields without a description: {missing}"


@pytest.mark.parametrize(("name", "schema"), _schemas(), ids=[n for n, _ in _schemas()])
def test_schema_is_structural(name: str, schema: dict[str, Any]) -> None:
    for path, node in _walk(schema, ""):
        if path.endswith("{}") and "anyOf" in node:
            continue
        assert "type" in node or node.get("x-kubernetes-int-or-string"), f"{name}{path} has no type"
        if node.get("x-kubernetes-preserve-unknown-fields"):
            assert node["type"] == "object"


def test_workspace_crd_names_and_versions() -> None:
    spec = workspace_crd()["spec"]
    assert spec["group"] == "kaito.sh"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["shortNames"] == ["wk", "wks"]
    assert spec["names"]["categories"] == ["workspace"]
    versions = {v["name"]: v for v in spec["versions"]}
    assert (versions["v1alpha1"]["served"], versions["v1alpha1"]["storage"]) == (True, False)
    assert (versions["v1beta1"]["served"], versions["v1beta1"]["storage"]) == (True, True)
    for v in versions.values():
        assert v["subresources"] == {"status": {}}
        props = v["schema"]["openAPIV3Schema"]["properties"]
        assert set(props) == {
            "apiVersion",
            "kind",
            "metadata",
            "resource",
            "inference",
            "tuning",
            "status",
        }
        assert "spec" not in props
        assert props["inference"]["properties"]["template"]["x-kubernetes-preserve-unknown-fields"]
        source = props["inference"]["properties"]["adapters"]["items"]["properties"]["source"]
        assert source["properties"]["volumeSource"]["x-kubernetes-preserve-unknown-fields"]
        assert props["tuning"]["properties"]["output"]["properties"]["volumeSource"][
            "x-kubernetes-preserve-unknown-fields"
        ]


def test_printer_columns() -> None:
    versions = {v["name"]: v for v in workspace_crd()["spec"]["versions"]}
    alpha = [c["name"].upper() for c in versions["v1alpha1"]["additionalPrinterColumns"]]
    assert ["NAME", *alpha] == [
        "NAME",
        "INSTANCE",
        "RESOURCEREADY",
        "INFERENCEREADY",
        "WORKSPACEREADY",
        "AGE",
    ]
    beta = versions["v1beta1"]["additionalPrinterColumns"]
    assert [(c["name"], c["type"], c["jsonPath"]) for c in beta] == [
        ("Instance", "string", ".resource.instanceType"),
        ("ResourceReady", "string", '.status.conditions[?(@.type=="ResourceReady")].status'),
        ("InferenceReady", "string", '.status.conditions[?(@.type=="InferenceReady")].status'),
        ("JobStarted", "string", '.status.conditions[?(@.type=="JobStarted")].status'),
        (
            "WorkspaceSucceeded",
            "string",
            '.status.conditions[?(@.type=="WorkspaceSucceeded")].status',
        ),
        ("TargetNodeCount", "integer", ".status.targetNodeCount"),
        ("State", "string", ".status.state"),
        ("Age", "date", ".metadata.creationTimestamp"),
    ]
    workspace_ready = versions["v1alpha1"]["additionalPrinterColumns"][3]
    assert workspace_ready["jsonPath"] == '.status.conditions[?(@.type=="WorkspaceReady")].status'


def test_versions_differ_only_in_the_v1alpha1_instance_type_default() -> None:
    versions = {
        v["name"]: v["schema"]["openAPIV3Schema"] for v in workspace_crd()["spec"]["versions"]
    }
    alpha_it = versions["v1alpha1"]["properties"]["resource"]["properties"].pop("instanceType")
    beta_it = versions["v1beta1"]["properties"]["resource"]["properties"].pop("instanceType")
    assert versions["v1alpha1"] == versions["v1beta1"]
    assert alpha_it["default"] == "Standard_NC24ads_A100_v4"
    assert "default" not in beta_it


def _attrs_paths(cls: type, prefix: str) -> set[str]:
    """Wire paths of every field of an attrs class, nested classes included."""
    attrs.resolve_types(cls)
    out = set()
    for field in attrs.fields(cls):
        path = f"{prefix}.{wire_name(field)}"
        out.add(path)
        for nested, in_list in _nested_classes(field.type, in_list=False):
            out |= _attrs_paths(nested, path + ("[]" if in_list else ""))
    return out


def _nested_classes(annotation: Any, *, in_list: bool) -> list[tuple[type, bool]]:
    if isinstance(annotation, type) and attrs.has(annotation):
        return [(annotation, in_list)]
    origin = typing.get_origin(annotation)
    found = []
    for arg in typing.get_args(annotation):
        found += _nested_classes(arg, in_list=in_list or origin is list)
    return found


def _schema_paths(schema: dict[str, Any], prefix: str) -> set[str]:
    out = set()
    for name, sub in (schema.get("properties") or {}).items():
        path = f"{prefix}.{name}"
        out.add(path)
        if sub.get("x-kubernetes-preserve-unknown-fields"):
            continue
        if sub.get("type") == "array" and isinstance(sub.get("items"), dict):
            out |= _schema_paths(sub["items"], path + "[]")
        else:
            out |= _schema_paths(sub, path)
    return out


@pytest.mark.parametrize(("cls", "crd"), [(Workspace, workspace_crd), (NodeClaim, nodeclaim_crd)])
def test_types_and_schema_have_the_same_fields(cls: type, crd: Any) -> None:
    schema = crd()["spec"]["versions"][-1]["schema"]["openAPIV3Schema"]
    from_schema = {p for p in _schema_paths(schema, "") if not p.startswith(".status.performance.")}
    from_types = _attrs_paths(cls, "")
    assert from_types == from_schema
