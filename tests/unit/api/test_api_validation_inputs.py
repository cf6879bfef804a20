"""Inputs that used to be admitted and then failed forever (issue #15, items 3 and 4).

Label keys and values, adapter names, image tags, the pod template's shape and the
``kaito.sh/runtime`` annotation are refused at admission in the API server's (or
upstream's) words, instead of being refused on every reconcile by the API server when
kaito creates the NodeClaim or Deployment they end up in.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from kaito.api import constants as c
from kaito.api import workspace_from_dict
from kaito.api.quantity import QuantityError, parse_quantity
from kaito.api.validation import review, validate_create, validate_update
from kaito.api.validation.images import image_reference_error
from kaito.api.validation.names import (
    dns1123_label_errors,
    dns1123_subdomain_errors,
    label_key_errors,
    label_value_errors,
)
from tests.unit.api.api_builders import CATALOG, CLOUD, inference_dict, tuning_dict

API_SRC = Path(__file__).parents[3] / "src" / "kaito" / "api"

LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
NAME_PART_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


def _with_selector(selector: dict[str, Any]) -> dict[str, Any]:
    data = inference_dict()
    data["resource"]["labelSelector"] = selector
    return data


def _errors(data: dict[str, Any]) -> list[str]:
    return validate_create(workspace_from_dict(data), catalog=CATALOG, cloud=CLOUD).errors


# --- label keys and values ------------------------------------------------------------------


def test_label_value_with_spaces_and_a_snowman_is_refused() -> None:
    errors = _errors(_with_selector({"matchLabels": {"apps": "my value \u2603"}}))
    assert errors == [
        f'invalid value: "my value \u2603": {LABEL_VALUE_MSG}: '
        "resource.labelSelector.matchLabels[apps]"
    ]


def test_label_key_refused_in_kubernetes_words() -> None:
    errors = _errors(_with_selector({"matchLabels": {"my key": "v"}}))
    assert errors == [
        f'invalid value: "my key": {NAME_PART_MSG}: resource.labelSelector.matchLabels'
    ]


@pytest.mark.parametrize(
    "selector",
    [
        {"matchLabels": {"apps": "a" * 64}},
        {"matchLabels": {"apps": "-lead"}},
        {"matchLabels": {"apps": "trail\n"}},
        {"matchLabels": {"apps": "\u0661\u0662"}},  # Arabic-Indic digits
        {"matchLabels": {"Bad_Prefix/name": "v"}},
        {"matchLabels": {"/name": "v"}},
        {"matchLabels": {"a/b/c": "v"}},
        {"matchLabels": {"example.com/": "v"}},
        {"matchLabels": {"k" * 64: "v"}},
        {"matchLabels": {"name\n": "v"}},
        {"matchExpressions": [{"key": "apps", "operator": "In", "values": ["no spaces"]}]},
        {"matchExpressions": [{"key": "bad key", "operator": "In", "values": ["v"]}]},
    ],
)
def test_invalid_labels_refused(selector: dict[str, Any]) -> None:
    errors = _errors(_with_selector(selector))
    assert errors, selector
    assert all(e.startswith("invalid value: ") for e in errors), errors
    assert all("resource.labelSelector.match" in e for e in errors), errors


@pytest.mark.parametrize(
    "labels",
    [
        {"apps": "phi-3"},
        {"apps": ""},
        {"example.com/My_Name.x": "v1.2_3-a"},
        {"apps": "a" * 63, "k" * 63: "x"},
        {"kubernetes.azure.com/agentpool": "gpu"},
    ],
)
def test_valid_labels_pass(labels: dict[str, str]) -> None:
    assert _errors(_with_selector({"matchLabels": labels})) == []


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("", True),
        ("a", True),
        ("A-b_c.D", True),
        ("a\n", False),
        ("a b", False),
        ("_a", False),
        ("\u00e9", False),
        ("a" * 63, True),
        ("a" * 64, False),
    ],
)
def test_label_value_rule(value: str, valid: bool) -> None:
    assert (label_value_errors(value) == []) is valid


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        ("a", True),
        ("kaito.sh/workspace", True),
        ("a.b/C_d-e.f", True),
        ("", False),
        ("a/", False),
        ("/a", False),
        ("A.b/c", False),
        ("a\n", False),
        ("x" * 254 + "/a", False),
        ("a/" + "b" * 64, False),
    ],
)
def test_label_key_rule(key: str, valid: bool) -> None:
    assert (label_key_errors(key) == []) is valid


# --- whole-string, ASCII-only regexes ---------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["a\n", "my-name\n", "\u0661", "a\u0661b", "\uff41"],  # fullwidth "a"
)
def test_dns_names_refuse_trailing_newline_and_non_ascii(value: str) -> None:
    assert dns1123_label_errors(value)
    assert dns1123_subdomain_errors(value)


def test_dns_length_counts_bytes_like_go() -> None:
    assert "must be no more than 63 characters" in dns1123_label_errors("\u00e9" * 32)


def test_adapter_name_with_trailing_newline_is_refused() -> None:
    data = inference_dict()
    data["inference"]["adapters"] = [{"source": {"name": "a1\n", "image": "r.io/a:1"}}]
    errors = _errors(data)
    assert any(
        e.startswith("invalid value: a lowercase RFC 1123 subdomain must consist of")
        and e.endswith(": inference.adapters[0].source.name")
        for e in errors
    ), errors
    # ... on update too (adapters may change).
    old = inference_dict()
    result = validate_update(workspace_from_dict(old), workspace_from_dict(data))
    assert not result.allowed


@pytest.mark.parametrize(
    "name",
    ["my.adapter", "a" * 50, "phi-3.lora"],
)
def test_adapter_names_kaito_cannot_name_containers_after_are_refused(name: str) -> None:
    data = inference_dict()
    data["inference"]["adapters"] = [{"source": {"name": name, "image": "r.io/a:1"}}]
    (error,) = _errors(data)
    assert error == (
        f"invalid value: adapter name \"{name}\" must be a lowercase RFC 1123 label (no '.') "
        'of at most 49 characters: kaito names its puller container "puller-<name>" and '
        'its volumes "adapter-<name>" and "docker-config-<name>": '
        "inference.adapters[0].source.name"
    )


def test_adapter_name_of_49_characters_passes() -> None:
    data = inference_dict()
    data["inference"]["adapters"] = [{"source": {"name": "a" * 49, "image": "r.io/a:1"}}]
    assert _errors(data) == []


@pytest.mark.parametrize(
    "ref",
    [
        "registry.example.com/a:\u0661\u0662",  # Arabic-Indic digits in the tag
        "registry.example.com/a:v\u00e9",  # a non-ASCII letter in the tag
        "registry.example.com:\u0668\u0660/a:1",  # non-ASCII port digits
        "registry.example.com/a:1\n",
        "registry.example.com/\u00e4:1",
    ],
)
def test_image_references_with_non_ascii_or_newline_are_refused(ref: str) -> None:
    assert image_reference_error(ref) is not None
    data = inference_dict()
    data["inference"]["adapters"] = [{"source": {"name": "a1", "image": ref}}]
    assert any("Unable to parse adapter image reference" in e for e in _errors(data))


@pytest.mark.parametrize(
    "ref",
    ["registry.example.com/a:1", "localhost:5000/a_b/c:v1.2-x", "ACR.azurecr.io/X_Y:0.0.1"],
)
def test_ordinary_image_references_still_pass(ref: str) -> None:
    assert image_reference_error(ref) is None


@pytest.mark.parametrize("text", ["\u0661Gi", "1\u0660", "1Gi\nx", "\uff11Gi"])
def test_quantities_take_ascii_digits_only(text: str) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(text)


def test_adapter_strength_takes_ascii_digits_only() -> None:
    data = inference_dict()
    data["metadata"]["annotations"] = {c.ANNOTATION_RUNTIME: "transformers"}
    data["inference"]["adapters"] = [
        {"source": {"name": "a1", "image": "r.io/a:1"}, "strength": "\u0660.5"}
    ]
    assert _errors(data) == [
        "Invalid strength value for Adapter 'a1': strconv.ParseFloat: parsing \"\u0660.5\": "
        "invalid syntax: inference.adapters[0].strength"
    ]


def test_no_dollar_anchors_or_prefix_matches_in_the_api_package() -> None:
    """Python's "$" matches before a final newline and re.match only anchors the start:
    every pattern in kaito.api is matched whole with fullmatch."""
    offenders = []
    for path in sorted(API_SRC.rglob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0] if line.lstrip().startswith("#") else line
            if re.search(r"""\$["']|\.match\(|re\.match\(""", code):
                offenders.append(f"{path.relative_to(API_SRC)}:{n}: {line.strip()}")
    assert offenders == []


# --- the pod template's shape -----------------------------------------------------------------


def _template(template: Any) -> dict[str, Any]:
    data = inference_dict()
    data["inference"] = {"template": template}
    return data


OK_CONTAINER = {"name": "server", "image": "registry.example.com/server:1"}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (
            {"spec": {"containers": "nope"}},
            "invalid value: must be a list of containers, got string: "
            "inference.template.spec.containers",
        ),
        ({"spec": {"containers": []}}, "missing field(s): inference.template.spec.containers"),
        ({"spec": {}}, "missing field(s): inference.template.spec.containers"),
        ({"metadata": {}}, "missing field(s): inference.template.spec"),
        ({"spec": "x"}, "invalid value: must be an object, got string: inference.template.spec"),
        (
            {"spec": {"containers": ["c"]}},
            "invalid value: must be an object, got string: inference.template.spec.containers[0]",
        ),
        (
            {"spec": {"containers": [{"image": "x:1"}]}},
            "missing field(s): inference.template.spec.containers[0].name",
        ),
        (
            {"spec": {"containers": [{"name": "c"}]}},
            "missing field(s): inference.template.spec.containers[0].image",
        ),
        (
            {"spec": {"containers": [{"name": "c", "image": ""}]}},
            "missing field(s): inference.template.spec.containers[0].image",
        ),
        (
            {"spec": {"containers": [{"name": "c", "image": 7}]}},
            "invalid value: must be a string, got number: "
            "inference.template.spec.containers[0].image",
        ),
        (
            {"spec": {"containers": [{"name": "c", "image": " x:1"}]}},
            "invalid value: must not have leading or trailing whitespace: "
            "inference.template.spec.containers[0].image",
        ),
        (
            {"spec": {"containers": [{"name": "Bad_Name", "image": "x:1"}]}},
            "invalid value: a lowercase RFC 1123 label must consist of lower case alphanumeric "
            "characters or '-', and must start and end with an alphanumeric character (e.g. "
            "'my-name',  or '123-abc', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?'): inference.template.spec.containers[0].name",
        ),
        (
            {"spec": {"containers": [OK_CONTAINER, OK_CONTAINER]}},
            'Duplicate value: "server": inference.template.spec.containers[1].name',
        ),
        (
            {"metadata": "x", "spec": {"containers": [OK_CONTAINER]}},
            "invalid value: must be an object, got string: inference.template.metadata",
        ),
        (
            {"metadata": {"labels": ["a"]}, "spec": {"containers": [OK_CONTAINER]}},
            "invalid value: must be a map of strings, got array: "
            "inference.template.metadata.labels",
        ),
        (
            {"metadata": {"labels": {"a": "b c"}}, "spec": {"containers": [OK_CONTAINER]}},
            f'invalid value: "b c": {LABEL_VALUE_MSG}: inference.template.metadata.labels[a]',
        ),
        (
            {"spec": {"containers": [OK_CONTAINER], "affinity": "x"}},
            "invalid value: must be an object, got string: inference.template.spec.affinity",
        ),
        (
            {"spec": {"containers": [OK_CONTAINER], "tolerations": {"key": "x"}}},
            "invalid value: must be a list of tolerations, got object: "
            "inference.template.spec.tolerations",
        ),
    ],
)
def test_template_shape(template: Any, expected: str) -> None:
    assert expected in _errors(_template(template))


def test_valid_template_passes() -> None:
    template = {
        "metadata": {"labels": {"app": "custom"}},
        "spec": {
            "containers": [OK_CONTAINER, {**OK_CONTAINER, "name": "sidecar"}],
            "tolerations": [{"key": "x", "operator": "Exists"}],
            "affinity": {},
        },
    }
    assert _errors(_template(template)) == []


def test_template_shape_checked_on_update_when_it_changes() -> None:
    old = _template({"spec": {"containers": [OK_CONTAINER]}})
    new = _template({"spec": {"containers": []}})
    result = validate_update(workspace_from_dict(old), workspace_from_dict(new))
    assert result.errors == ["missing field(s): inference.template.spec.containers"]


def test_unchanged_legacy_template_does_not_block_updates() -> None:
    legacy = _template({"spec": {"containers": "nope"}})
    new = copy.deepcopy(legacy)
    new["metadata"]["finalizers"] = [c.WORKSPACE_FINALIZER]
    assert validate_update(workspace_from_dict(legacy), workspace_from_dict(new)).errors == []


# --- the kaito.sh/runtime annotation ----------------------------------------------------------


def _annotated(runtime: str | None, base: dict[str, Any] | None = None) -> dict[str, Any]:
    data = copy.deepcopy(base if base is not None else inference_dict())
    notes = data["metadata"].setdefault("annotations", {})
    if runtime is None:
        notes.pop(c.ANNOTATION_RUNTIME, None)
    else:
        notes[c.ANNOTATION_RUNTIME] = runtime
    return data


@pytest.mark.parametrize("value", ["tensorrt", "transformer", "", "vllm,transformers"])
def test_unknown_runtime_refused_on_create(value: str) -> None:
    assert _errors(_annotated(value)) == [
        f'invalid value: "{value}" is not a valid runtime; choose one of: transformers, vllm: '
        "metadata.annotations[kaito.sh/runtime]"
    ]


@pytest.mark.parametrize("value", ["vllm", "transformers", "VLLM", " transformers "])
def test_known_runtimes_pass(value: str) -> None:
    assert _errors(_annotated(value)) == []


def test_unknown_runtime_refused_on_tuning_too() -> None:
    assert _errors(_annotated("tgi", tuning_dict())) != []


IMMUTABLE = (
    "annotation kaito.sh/runtime is immutable after creation: "
    "metadata.annotations[kaito.sh/runtime]"
)


@pytest.mark.parametrize(
    ("before", "after"),
    [("vllm", "transformers"), ("transformers", "vllm"), (None, "vllm"), ("vllm", None)],
)
def test_runtime_cannot_change_on_update(before: str | None, after: str | None) -> None:
    old, new = _annotated(before), _annotated(after)
    assert validate_update(workspace_from_dict(old), workspace_from_dict(new)).errors == [IMMUTABLE]
    request = {"operation": "UPDATE", "object": new, "oldObject": old}
    response = review({"request": request}, catalog=CATALOG, cloud=CLOUD)["response"]
    assert response["allowed"] is False
    assert response["status"]["message"] == f"validation failed: {IMMUTABLE}"


@pytest.mark.parametrize(
    ("before", "after"),
    [("vllm", "vllm"), ("vllm", "VLLM"), ("tensorrt", None), (None, None)],
)
def test_runtime_updates_that_keep_the_choice_pass(before: str | None, after: str | None) -> None:
    old, new = _annotated(before), _annotated(after)
    new["metadata"]["labels"] = {"team": "ml"}
    assert validate_update(workspace_from_dict(old), workspace_from_dict(new)).errors == []


def test_unknown_runtime_refused_on_update() -> None:
    old, new = _annotated(None), _annotated("tensorrt")
    assert validate_update(workspace_from_dict(old), workspace_from_dict(new)).errors == [
        'invalid value: "tensorrt" is not a valid runtime; choose one of: transformers, vllm: '
        "metadata.annotations[kaito.sh/runtime]"
    ]
