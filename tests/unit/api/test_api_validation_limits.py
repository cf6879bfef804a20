"""Bounded cost per Workspace (issue #15): node counts, list lengths, message sizes.

* ``resource.count`` is 1..1000 in the CRD (both versions) and at most the manager's cap
  (``max_node_count``, default 32) at admission, with or without the bypass annotation;
* a refused count is the only reason given, not "provides -1 GPUs" derived from it;
* the denial text is at most 2 KB and each user value repeated in it at most 100 chars.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kaito.api import constants as c
from kaito.api import workspace_from_dict
from kaito.api.crds import workspace_crd
from kaito.api.validation import review, validate_create, validate_update
from kaito.api.validation.errors import MAX_MESSAGE, MAX_QUOTED, capped_message
from tests.unit.api.api_builders import CATALOG, CLOUD, inference_dict, tuning_dict

CAP_HINT = "a cluster operator can raise it with the manager flag --max-nodes-per-workspace"


def _phi3_v1alpha1(count: int, *, bypass: bool = False) -> dict[str, Any]:
    data = inference_dict(count=count)
    data["apiVersion"] = c.API_VERSION_V1ALPHA1
    if bypass:
        data["metadata"]["annotations"] = {c.ANNOTATION_BYPASS_RESOURCE_CHECKS: ""}
    return data


def _request(operation: str, obj: Any, old: Any = None) -> dict[str, Any]:
    request: dict[str, Any] = {
        "uid": "u1",
        "kind": {"group": "kaito.sh", "version": "v1alpha1", "kind": "Workspace"},
        "operation": operation,
        "object": obj,
    }
    if old is not None:
        request["oldObject"] = old
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


# --- the CRD --------------------------------------------------------------------------


def _versions() -> dict[str, dict[str, Any]]:
    return {v["name"]: v["schema"]["openAPIV3Schema"] for v in workspace_crd()["spec"]["versions"]}


@pytest.mark.parametrize("version", ["v1alpha1", "v1beta1"])
def test_crd_bounds_count_like_fields(version: str) -> None:
    schema = _versions()[version]
    resource = schema["properties"]["resource"]["properties"]
    count = resource["count"]
    assert (count["minimum"], count["maximum"]) == (1, c.MAX_NODE_COUNT_CEILING)
    assert count["default"] == 1
    assert resource["preferredNodes"]["maxItems"] == c.MAX_NODE_COUNT_CEILING
    partition = resource["partition"]["properties"]["count"]
    assert (partition["minimum"], partition["maximum"]) == (1, c.MAX_PARTITION_GPUS)
    inference = schema["properties"]["inference"]["properties"]
    assert inference["adapters"]["maxItems"] == c.MAX_ADAPTERS
    adapter_source = inference["adapters"]["items"]["properties"]["source"]["properties"]
    assert adapter_source["urls"]["maxItems"] == c.MAX_DATA_URLS
    tuning_input = schema["properties"]["tuning"]["properties"]["input"]["properties"]
    assert tuning_input["urls"]["maxItems"] == c.MAX_DATA_URLS


def test_default_cap_is_below_the_crd_ceiling() -> None:
    assert 1 <= c.DEFAULT_MAX_NODE_COUNT <= c.MAX_NODE_COUNT_CEILING


# --- the manager's cap ------------------------------------------------------------------


@pytest.mark.parametrize("bypass", [False, True], ids=["plain", "bypass-annotation"])
def test_huge_count_refused_with_the_limit_and_the_flag(bypass: bool) -> None:
    ws = workspace_from_dict(_phi3_v1alpha1(100000, bypass=bypass))
    assert validate_create(ws, catalog=CATALOG, cloud=CLOUD).errors == [
        "invalid value: count 100000 exceeds the limit of 32 nodes per Workspace; "
        f"{CAP_HINT}: resource.count"
    ]


def test_cap_is_inclusive_and_configurable() -> None:
    at_cap = workspace_from_dict(_phi3_v1alpha1(c.DEFAULT_MAX_NODE_COUNT))
    assert validate_create(at_cap, catalog=CATALOG, cloud=CLOUD).errors == []
    over = workspace_from_dict(_phi3_v1alpha1(c.DEFAULT_MAX_NODE_COUNT + 1, bypass=True))
    assert not validate_create(over, catalog=CATALOG, cloud=CLOUD).allowed
    assert validate_create(over, catalog=CATALOG, cloud=CLOUD, max_node_count=64).errors == []
    (error,) = validate_create(at_cap, catalog=CATALOG, cloud=CLOUD, max_node_count=4).errors
    assert "count 32 exceeds the limit of 4 nodes per Workspace" in error


def test_cap_applies_to_tuning_too() -> None:
    errors = validate_create(
        workspace_from_dict(tuning_dict(count=500)), catalog=CATALOG, cloud=CLOUD
    ).errors
    assert (
        f"invalid value: count 500 exceeds the limit of 32 nodes per Workspace; {CAP_HINT}: "
        "resource.count"
    ) in errors


def test_review_takes_the_cap() -> None:
    body = _request("CREATE", _phi3_v1alpha1(40, bypass=True))
    denied = review(body, catalog=CATALOG, cloud=CLOUD)["response"]
    assert denied["allowed"] is False
    assert "count 40 exceeds the limit of 32 nodes per Workspace" in denied["status"]["message"]
    assert (
        review(body, catalog=CATALOG, cloud=CLOUD, max_node_count=40)["response"]["allowed"] is True
    )


def test_update_that_changes_the_count_beyond_the_cap_is_refused() -> None:
    # Before defaulting (no count) to a huge one: not "immutable" upstream, so the cap decides.
    old = inference_dict()
    new = inference_dict(count=100000)
    result = validate_update(workspace_from_dict(old), workspace_from_dict(new))
    assert result.errors == [
        "invalid value: count 100000 exceeds the limit of 32 nodes per Workspace; "
        f"{CAP_HINT}: resource.count"
    ]
    body = _request("UPDATE", new, old)
    assert review(body, catalog=CATALOG, cloud=CLOUD)["response"]["allowed"] is False
    assert (
        review(body, catalog=CATALOG, cloud=CLOUD, max_node_count=100000)["response"]["allowed"]
        is True
    )


def test_update_leaving_a_count_above_a_lowered_cap_alone_is_allowed() -> None:
    """An operator lowering the cap must not lock existing Workspaces (finalizers, adapters)."""
    old = inference_dict(count=40)
    new = copy.deepcopy(old)
    new["metadata"]["finalizers"] = [c.WORKSPACE_FINALIZER]
    assert validate_update(workspace_from_dict(old), workspace_from_dict(new)).errors == []


@pytest.mark.parametrize("cap", [0, -1])
def test_a_cap_below_one_is_a_caller_error(cap: int) -> None:
    ws = workspace_from_dict(inference_dict())
    with pytest.raises(ValueError, match="max_node_count must be at least 1"):
        validate_create(ws, catalog=CATALOG, cloud=CLOUD, max_node_count=cap)
    with pytest.raises(ValueError, match="max_node_count must be at least 1"):
        validate_update(ws, ws, max_node_count=cap)
    with pytest.raises(ValueError, match="max_node_count must be at least 1"):
        review(
            _request("CREATE", inference_dict()), catalog=CATALOG, cloud=CLOUD, max_node_count=cap
        )


# --- the real reason first --------------------------------------------------------------


@pytest.mark.parametrize("count", [-1, 0])
def test_invalid_count_is_the_only_reason_not_derived_gpu_errors(count: int) -> None:
    ws = workspace_from_dict(inference_dict(count=count))
    assert validate_create(ws, catalog=CATALOG, cloud=CLOUD).errors == [
        f"invalid value: count must be at least 1, got {count}: resource.count"
    ]
    response = review(
        _request("CREATE", inference_dict(count=count)), catalog=CATALOG, cloud=CLOUD
    )["response"]
    assert response["status"]["message"] == (
        f"validation failed: invalid value: count must be at least 1, got {count}: resource.count"
    )


def test_count_independent_gpu_checks_still_run_with_an_invalid_count() -> None:
    data = inference_dict(count=-1, instanceType="Standard_NC6")
    errors = validate_create(workspace_from_dict(data), catalog=CATALOG, cloud=CLOUD).errors
    assert "invalid value: count must be at least 1, got -1: resource.count" in errors
    assert any("NVIDIA K80 GPUs (CUDA compute capability 3.7)" in e for e in errors)
    assert not any("provides -1" in e or "total of -" in e for e in errors)


def test_tuning_with_invalid_count_gets_no_gpu_count_warning() -> None:
    data = tuning_dict(count=-1)
    data["tuning"]["preset"]["name"] = "falcon-40b"
    result = validate_create(workspace_from_dict(data), catalog=CATALOG, cloud=CLOUD)
    assert result.errors == ["invalid value: count must be at least 1, got -1: resource.count"]
    assert not any("provides -1" in w for w in result.warnings)


# --- message sizes ------------------------------------------------------------------------


def _long_duplicate_adapters() -> dict[str, Any]:
    data = inference_dict()
    data["inference"]["adapters"] = [
        {"source": {"name": ("x" * 2000) + str(i % 5), "image": "registry.example.com/a:1"}}
        for i in range(10)
    ]
    return data


def test_duplicate_adapter_denial_is_capped() -> None:
    response = review(_request("CREATE", _long_duplicate_adapters()), catalog=CATALOG, cloud=CLOUD)[
        "response"
    ]
    message = response["status"]["message"]
    assert response["allowed"] is False
    assert message.startswith("validation failed: ")
    assert len(message.encode()) <= MAX_MESSAGE  # was 10 KB and more, growing with the names
    # The duplicate message repeats the name cut to MAX_QUOTED characters.
    errors = validate_create(
        workspace_from_dict(_long_duplicate_adapters()), catalog=CATALOG, cloud=CLOUD
    ).errors
    duplicate = next(e for e in errors if e.startswith("Duplicate adapter source name found: "))
    assert "x" * MAX_QUOTED + "..." in duplicate
    assert "x" * (MAX_QUOTED + 1) not in duplicate


def test_values_quoted_in_messages_are_shortened() -> None:
    long = "q" * 5000
    cases = [
        ("inference.preset.name", "Unsupported inference preset name "),
        ("resource.instanceType", "Unsupported instance type "),
    ]
    for path, start in cases:
        data = inference_dict()
        section, *rest = path.split(".")
        node = data[section]
        for key in rest[:-1]:
            node = node[key]
        node[rest[-1]] = long
        (error,) = (
            e
            for e in validate_create(workspace_from_dict(data), catalog=CATALOG, cloud=CLOUD).errors
            if start in e
        )
        assert "q" * MAX_QUOTED + "..." in error
        assert "q" * (MAX_QUOTED + 1) not in error
    data = inference_dict()
    data["metadata"]["annotations"] = {
        c.ANNOTATION_NODE_IMAGE_FAMILY: long,
        c.ANNOTATION_PERFORMANCE_MODE: long,
        c.ANNOTATION_USE_LOCAL_WEIGHTS: long,
        c.ANNOTATION_RUNTIME: long,
    }
    data["inference"]["adapters"] = [
        {"source": {"name": "a1", "image": "registry.example.com/a:1"}, "strength": long}
    ]
    data["resource"]["labelSelector"]["matchLabels"]["k"] = long
    errors = validate_create(workspace_from_dict(data), catalog=CATALOG, cloud=CLOUD).errors
    assert len(errors) >= 6
    for error in errors:
        assert "q" * (MAX_QUOTED + 1) not in error, error
    tuning = tuning_dict()
    tuning["tuning"]["method"] = long
    tuning["tuning"]["preset"]["name"] = long
    for error in validate_create(workspace_from_dict(tuning), catalog=CATALOG, cloud=CLOUD).errors:
        assert "q" * (MAX_QUOTED + 1) not in error, error


def test_undecodable_body_message_is_bounded() -> None:
    data = inference_dict()
    data["resource"]["count"] = "9" * 100000
    message = review(_request("CREATE", data), catalog=CATALOG, cloud=CLOUD)["response"]["status"][
        "message"
    ]
    assert message.startswith("validation failed: cannot decode Workspace: resource.count")
    assert len(message.encode()) <= MAX_MESSAGE


def test_capped_message_keeps_what_fits_and_counts_the_rest() -> None:
    assert capped_message(["a", "b"]) == "validation failed: a\nb"
    many = [f"error {i:04d} " + "z" * 80 for i in range(100)]
    text = capped_message(many)
    assert len(text.encode()) <= MAX_MESSAGE
    lines = text.removeprefix("validation failed: ").splitlines()
    kept = lines[:-1]
    assert kept == many[: len(kept)]
    assert lines[-1] == f"... and {100 - len(kept)} more errors"
    # Exactly at the limit: nothing left out.
    exact = ["y" * (MAX_MESSAGE - len("validation failed: "))]
    assert capped_message(exact) == "validation failed: " + exact[0]
    # One error alone too long: cut (never inside a character), the rest counted.
    huge = capped_message(["\u2603" * 5000, "second"])
    assert len(huge.encode()) <= MAX_MESSAGE
    first, last = huge.removeprefix("validation failed: ").splitlines()
    assert first.endswith("...") and set(first[:-3]) == {"\u2603"}
    assert last == "... and 1 more error"


def test_every_message_is_bounded_for_the_worst_objects() -> None:
    """All list fields at their CRD maximum and full of errors: still one small message."""
    data = inference_dict(count=-5, instanceType="Standard_" + "N" * 3000)
    data["resource"]["labelSelector"] = {
        "matchLabels": {f"bad key {i}": "bad value \u2603" for i in range(50)},
        "matchExpressions": [{"key": "x y", "operator": "In", "values": ["a b"]}],
    }
    data["inference"]["adapters"] = [
        {"source": {"name": "N" * 300, "urls": ["ftp://x"] * 1000}, "strength": "x" * 3000}
        for _ in range(c.MAX_ADAPTERS)
    ]
    data["inference"]["template"] = {"spec": {"containers": [{"name": "Bad"}] * 200}}
    response = review(_request("CREATE", data), catalog=CATALOG, cloud=CLOUD)["response"]
    assert response["allowed"] is False
    message = response["status"]["message"]
    assert len(message.encode()) <= MAX_MESSAGE
    assert message.splitlines()[-1].startswith("... and ")
    assert message.splitlines()[-1].endswith(" more errors")
