"""Issue #15 on a real API server: bounded counts, inputs that would fail forever, runtime.

Each refusal is checked where the user meets it (kubectl against the CRD and the
webhook), and the input rules are checked against the API server itself: what the
webhook admits, the API server accepts in the objects kaito makes from it (labels on
a NodeClaim/node, adapter names in the Deployment), and what it refuses, the API
server would have refused on every reconcile.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kaito.api import constants as c
from kaito.api import workspace_from_dict
from kaito.api.validation import validate_create
from kaito.api.validation.errors import MAX_MESSAGE
from kaito.presets import default_catalog
from kaito.testenv import ControlPlane

REPO = Path(__file__).resolve().parents[3]
CATALOG = default_catalog()
"""What the rules are run with: the manager's catalog and default cloud."""
CLOUD = "azure"
DENIED = 'admission webhook "validation.workspace.kaito.sh" denied the request: validation failed:'


def _phi3(version: str = c.V1ALPHA1, name: str = "phi-3", **resource: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": f"{c.GROUP}/{version}",
        "kind": "Workspace",
        "metadata": {"name": name},
        "resource": {
            "instanceType": "Standard_NC24ads_A100_v4",
            "labelSelector": {"matchLabels": {"apps": "phi-3"}},
            **resource,
        },
        "inference": {"preset": {"name": "phi-3-mini-4k-instruct"}},
    }
    return doc


def _bypass(doc: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    out["metadata"]["annotations"] = {c.ANNOTATION_BYPASS_RESOURCE_CHECKS: ""}
    return out


def _create(
    plane: ControlPlane, namespace: str, doc: dict[str, Any], *, dry_run: bool = True
) -> tuple[int, str]:
    args = ["create", "-n", namespace, "-f", "-", "-o", "name"]
    if dry_run:
        args.insert(1, "--dry-run=server")
    proc = plane.kubectl(*args, input=json.dumps(doc), check=False)
    return proc.returncode, proc.stdout + proc.stderr


# --- 1. node counts -----------------------------------------------------------------------


@pytest.mark.parametrize("version", [c.V1ALPHA1, c.V1BETA1])
@pytest.mark.parametrize("bypass", [False, True], ids=["plain", "bypass"])
def test_crd_refuses_unbounded_and_nonpositive_counts(
    crds: ControlPlane, namespace: str, version: str, bypass: bool
) -> None:
    for count, words in [
        (100000, "should be less than or equal to 1000"),
        (1001, "should be less than or equal to 1000"),
        (0, "should be greater than or equal to 1"),
        (-1, "should be greater than or equal to 1"),
    ]:
        doc = _phi3(version, count=count)
        code, out = _create(crds, namespace, _bypass(doc) if bypass else doc)
        assert code != 0, out
        assert "resource.count" in out and words in out, out
    assert _create(crds, namespace, _phi3(version, count=1000))[0] == 0


def test_crd_bounds_lists(crds: ControlPlane, namespace: str) -> None:
    doc = _phi3(c.V1BETA1)
    doc["inference"]["adapters"] = [
        {"source": {"name": f"a{i}", "image": "registry.example.com/a:1"}} for i in range(11)
    ]
    code, out = _create(crds, namespace, doc)
    assert code != 0 and "inference.adapters" in out and "must have at most 10 items" in out, out
    tune = _phi3(c.V1BETA1)
    del tune["inference"]
    tune["tuning"] = {
        "preset": {"name": "phi-3-mini-4k-instruct"},
        "method": "qlora",
        "input": {"urls": ["https://example.com/d.parquet"] * 1001},
        "output": {"volumeSource": {"emptyDir": {}}},
    }
    code, out = _create(crds, namespace, tune)
    assert code != 0 and "tuning.input.urls" in out and "must have at most 1000 items" in out
    part = _phi3(c.V1BETA1, partition={"mode": "accelerator", "count": 17})
    code, out = _create(crds, namespace, part)
    assert code != 0 and "resource.partition.count" in out, out


@pytest.mark.parametrize("version", [c.V1ALPHA1, c.V1BETA1])
def test_webhook_caps_node_count_even_with_the_bypass_annotation(
    control_plane: ControlPlane, guarded: str, version: str
) -> None:
    code, out = _create(control_plane, guarded, _bypass(_phi3(version, count=33)))
    assert code != 0
    assert DENIED in out
    assert (
        "invalid value: count 33 exceeds the limit of 32 nodes per Workspace; a cluster "
        "operator can raise it with the manager flag --max-nodes-per-workspace: resource.count"
    ) in out
    code, out = _create(control_plane, guarded, _phi3(version, count=32))
    assert code == 0, out


# --- 2. inputs that would fail forever ------------------------------------------------------


def test_label_value_with_spaces_and_snowman_refused(
    control_plane: ControlPlane, guarded: str
) -> None:
    doc = _phi3(c.V1BETA1)
    doc["resource"]["labelSelector"]["matchLabels"]["apps"] = "my value \u2603"
    code, out = _create(control_plane, guarded, doc)
    assert code != 0
    assert DENIED in out
    assert 'invalid value: "my value \u2603": a valid label must be an empty string' in out
    assert "resource.labelSelector.matchLabels[apps]" in out


LABEL_CASES: list[tuple[str, str]] = [
    ("apps", "phi-3"),
    ("apps", ""),
    ("example.com/My_Name.x", "v1.2_3-a"),
    ("k" * 63, "v" * 63),
    ("apps", "v" * 64),
    ("k" * 64, "v"),
    ("apps", "my value"),
    ("apps", "snow\u2603"),
    ("apps", "trailing\n"),
    ("apps", "\u0661\u0662"),
    ("Bad_Prefix/name", "v"),
    ("a/b/c", "v"),
    ("/name", "v"),
    ("name\n", "v"),
    ("apps", "-lead"),
]


def test_webhook_label_rules_agree_with_the_api_server(
    control_plane: ControlPlane, namespace: str
) -> None:
    """For each key/value: refused at admission exactly when the API server refuses it as
    a label (here on a ConfigMap; kaito stamps them on NodeClaims and nodes)."""
    for key, value in LABEL_CASES:
        doc = _phi3(c.V1BETA1)
        doc["resource"]["labelSelector"] = {"matchLabels": {key: value}}
        admitted = validate_create(workspace_from_dict(doc), catalog=CATALOG, cloud=CLOUD).allowed
        cm = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "labels-probe", "labels": {key: value}},
        }
        code, out = _create(control_plane, namespace, cm)
        assert admitted == (code == 0), f"{key!r}={value!r}: admitted={admitted}, apiserver: {out}"


def test_adapter_name_with_trailing_newline_refused(
    control_plane: ControlPlane, guarded: str
) -> None:
    doc = _phi3(c.V1BETA1)
    doc["inference"]["adapters"] = [
        {"source": {"name": "phi-3-adapter\n", "image": "registry.example.com/a:1"}}
    ]
    code, out = _create(control_plane, guarded, doc)
    assert code != 0
    assert DENIED in out
    assert "a lowercase RFC 1123 subdomain must consist of" in out
    assert "inference.adapters[0].source.name" in out


ADAPTER_NAMES = ["phi-3-adapter", "1adapter", "a" * 49, "a" * 50, "my.adapter", "a1\n", "A1"]


def _deployment(doc: dict[str, Any]) -> dict[str, Any]:
    from kaito.controllers.settings import Settings
    from kaito.controllers.workload import inference_workload
    from kaito.presets import default_catalog

    catalog = default_catalog()
    ws = workspace_from_dict(doc)
    preset = catalog.inference_preset("phi-3-mini-4k-instruct")
    assert preset is not None
    manifest = inference_workload(
        ws, preset, catalog.sku("Standard_NC24ads_A100_v4"), Settings(), "1"
    )
    manifest["metadata"].pop("ownerReferences", None)  # no real owner in a dry run
    manifest["metadata"].pop("namespace", None)
    return manifest


def test_admitted_adapter_names_make_deployments_the_api_server_accepts(
    control_plane: ControlPlane, namespace: str
) -> None:
    for name in ADAPTER_NAMES:
        doc = _phi3(c.V1BETA1)
        doc["metadata"]["annotations"] = {c.ANNOTATION_RUNTIME: "transformers"}
        doc["inference"]["adapters"] = [
            {
                "source": {
                    "name": name,
                    "image": "registry.example.com/a:1",
                    "imagePullSecrets": ["pull"],
                },
                "strength": "0.5",
            }
        ]
        admitted = validate_create(workspace_from_dict(doc), catalog=CATALOG, cloud=CLOUD).allowed
        code, out = _create(control_plane, namespace, _deployment(doc))
        assert admitted == (code == 0), f"{name!r}: admitted={admitted}, apiserver: {out}"


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ({"spec": {"containers": "nope"}}, "must be a list of containers, got string"),
        ({"spec": {"containers": []}}, "missing field(s): inference.template.spec.containers"),
        (
            {"spec": {"containers": [{"name": "server"}]}},
            "missing field(s): inference.template.spec.containers[0].image",
        ),
    ],
)
def test_template_without_a_runnable_container_refused(
    control_plane: ControlPlane, guarded: str, template: dict[str, Any], words: str
) -> None:
    doc = _phi3(c.V1BETA1, name="custom")
    doc["inference"] = {"template": template}
    code, out = _create(control_plane, guarded, doc)
    assert code != 0
    assert DENIED in out and words in out, out


def test_custom_template_sample_still_admitted(control_plane: ControlPlane, guarded: str) -> None:
    sample = yaml.safe_load((REPO / "manifests/samples/workspace-custom-template.yaml").read_text())
    assert _create(control_plane, guarded, sample)[0] == 0


# --- 3. the runtime annotation --------------------------------------------------------------


def test_runtime_annotation_checked_on_create_and_immutable_on_update(
    control_plane: ControlPlane, guarded: str
) -> None:
    bad = _phi3(c.V1BETA1, name="runtime")
    bad["metadata"]["annotations"] = {c.ANNOTATION_RUNTIME: "tensorrt"}
    code, out = _create(control_plane, guarded, bad)
    assert code != 0
    assert (
        'invalid value: "tensorrt" is not a valid runtime; choose one of: transformers, vllm: '
        "metadata.annotations[kaito.sh/runtime]"
    ) in out
    good = copy.deepcopy(bad)
    good["metadata"]["annotations"] = {c.ANNOTATION_RUNTIME: "vllm"}
    code, out = _create(control_plane, guarded, good, dry_run=False)
    assert code == 0, out
    immutable = (
        "annotation kaito.sh/runtime is immutable after creation: "
        "metadata.annotations[kaito.sh/runtime]"
    )
    for change in ("kaito.sh/runtime=transformers", "kaito.sh/runtime-"):
        proc = control_plane.kubectl(
            "annotate", "--overwrite", "workspace", "runtime", "-n", guarded, change, check=False
        )
        assert proc.returncode != 0
        assert immutable in proc.stderr, proc.stderr
    # Other annotations may change, and the object can be deleted.
    control_plane.kubectl("annotate", "workspace", "runtime", "-n", guarded, "team=ml")
    control_plane.kubectl("delete", "workspace", "runtime", "-n", guarded)


def test_runtime_annotation_cannot_be_added_later(
    control_plane: ControlPlane, guarded: str
) -> None:
    plain = _phi3(c.V1BETA1, name="no-runtime")
    assert _create(control_plane, guarded, plain, dry_run=False)[0] == 0
    proc = control_plane.kubectl(
        "annotate", "workspace", "no-runtime", "-n", guarded, "kaito.sh/runtime=vllm", check=False
    )
    assert proc.returncode != 0
    assert "annotation kaito.sh/runtime is immutable after creation" in proc.stderr


# --- 4. messages ---------------------------------------------------------------------------


def test_duplicate_adapter_denial_is_short(control_plane: ControlPlane, guarded: str) -> None:
    doc = _phi3(c.V1BETA1)
    doc["inference"]["adapters"] = [
        {"source": {"name": "x" * 2000 + str(i % 5), "image": "registry.example.com/a:1"}}
        for i in range(10)
    ]
    code, out = _create(control_plane, guarded, doc)
    assert code != 0
    assert DENIED in out
    assert "Duplicate adapter source name found: " + "x" * 100 + "..." in out
    assert len(out.encode()) <= MAX_MESSAGE + 200  # kubectl's own prefix
