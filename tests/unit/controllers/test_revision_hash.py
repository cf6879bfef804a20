"""The Workspace spec hash is upstream Kaito v0.12's, on Workspaces upstream itself reconciled.

The fixtures (tests/data/upstream-rendered) hold, among upstream's other objects, the INPUT
Workspace, the LIVE Workspace after upstream's operator wrote it back, and upstream's
ControllerRevision, for the eight reference cases (presets on vLLM and transformers,
adapters, multi-node, tuning, a custom pod template). Upstream hashes the spec as its
controller read it -- after CRD defaulting and its own write-back -- so the LIVE Workspace
is the one whose hash must match.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kaito.api import constants as c
from kaito.api import gojson
from kaito.api.wire import workspace_from_dict
from kaito.controllers import revision

DATA = Path(__file__).resolve().parents[2] / "data" / "upstream-rendered"
CASES = sorted(DATA.glob("*.yaml"))


def documents(path: Path) -> dict[str, dict[str, Any]]:
    """INPUT / LIVE Workspace and REVISION of one case, told apart by each document's comment."""
    kinds = {
        "# INPUT Workspace": "INPUT",
        "# LIVE Workspace": "LIVE",
        "# OWNED by Workspace: ControllerRevision": "REVISION",
    }
    out: dict[str, dict[str, Any]] = {}
    for text in path.read_text(encoding="utf-8").split("\n---\n"):
        for prefix, key in kinds.items():
            if text.startswith(prefix):
                out[key] = yaml.safe_load(text)
    assert set(out) == set(kinds.values()), path
    return out


def test_all_eight_reference_cases_are_here() -> None:
    assert [p.stem[:3] for p in CASES] == ["01-", "02-", "03a", "03b", "04-", "05-", "06-", "07-"]


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_spec_hash_is_upstreams_annotation(path: Path) -> None:
    live = documents(path)["LIVE"]
    want = live["metadata"]["annotations"][c.ANNOTATION_WORKSPACE_HASH]
    assert revision.spec_hash(workspace_from_dict(live)) == want


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_upstreams_revision_data_hashes_to_its_annotation(path: Path) -> None:
    rev = documents(path)["REVISION"]
    digest = rev["metadata"]["annotations"][c.ANNOTATION_WORKSPACE_HASH]
    assert revision.hash_of(rev["data"]) == digest
    assert rev["metadata"]["name"] == f"{rev['metadata']['name'].rsplit('-', 1)[0]}-{digest[:5]}"


def test_the_encoded_spec_of_case_01_is_upstreams_text() -> None:
    """The text from the reference README: Go field order, presetOptions {}, tuning null."""
    live = documents(DATA / "01-phi3-vllm.yaml")["LIVE"]
    spec = revision.spec_of(workspace_from_dict(live))
    lines = [gojson.encode(spec[k], t) for k, t in revision.SPEC_GO_TYPES.items()]
    assert lines == [
        '{"count":1,"instanceType":"Standard_NV36ads_A10_v5",'
        '"labelSelector":{"matchLabels":{"apps":"phi3-vllm"}}}',
        '{"preset":{"name":"phi-3-mini-4k-instruct","accessMode":"public","presetOptions":{}}}',
        "null",
    ]


def test_the_custom_template_is_encoded_as_a_go_pod_template() -> None:
    """metadata {} (creationTimestamp is omitzero), resources in canonical quantities, the
    probe handler and volume source inlined, containerPort kept though it is not omitempty."""
    live = documents(DATA / "07-custom-template.yaml")["LIVE"]
    spec = revision.spec_of(workspace_from_dict(live))
    text = gojson.encode(spec["inference"], "*v1beta1.InferenceSpec")
    assert text.startswith('{"template":{"metadata":{},"spec":{"volumes":[{"name":"dshm",')
    assert '"emptyDir":{"medium":"Memory"}' in text
    assert '"ports":[{"containerPort":5000}]' in text
    assert '"resources":{"limits":{"nvidia.com/gpu":"1"},"requests":{"nvidia.com/gpu":"1"}}' in text
    assert (
        '"readinessProbe":{"httpGet":{"path":"/health","port":5000},"initialDelaySeconds":30'
        in text
    )


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_the_input_differs_only_by_what_the_api_server_and_upstream_filled_in(path: Path) -> None:
    """The INPUT lacks the CRD defaults (count 1, accessMode public), so it hashes differently;
    with them filled in, it hashes like the LIVE Workspace (presetOptions {} or template
    metadata {} need no filling in: Go writes them either way)."""
    docs = documents(path)
    spec = {k: docs["INPUT"].get(k) for k in revision.SPEC_GO_TYPES}
    spec["resource"] = {"count": 1, **spec["resource"]}
    for part in (spec["inference"], spec["tuning"]):
        if part and part.get("preset"):
            part["preset"] = {"accessMode": "public", **part["preset"]}
    want = docs["LIVE"]["metadata"]["annotations"][c.ANNOTATION_WORKSPACE_HASH]
    assert revision.hash_of(spec) == want


# -- a spec whose hash was written by an older kaito --------------------------------------------
def _old_style(ws_doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Workspace and ControllerRevision as a kaito that hashed sorted-key JSON left them."""
    ws = workspace_from_dict(ws_doc)
    spec = revision.spec_of(ws)
    text = "".join(
        json.dumps(spec[k], separators=(",", ":"), sort_keys=True) + "\n"
        for k in revision.SPEC_GO_TYPES
    )
    old = hashlib.sha256(text.encode()).hexdigest()
    doc = json.loads(json.dumps(ws_doc))
    doc["metadata"]["annotations"][c.ANNOTATION_WORKSPACE_HASH] = old
    doc["metadata"]["annotations"][c.ANNOTATION_WORKSPACE_REVISION] = "3"
    rev = revision.controller_revision(workspace_from_dict(doc), old, 3, {})
    return doc, rev


def test_an_unchanged_spec_under_an_old_hash_keeps_its_revision() -> None:
    live = documents(DATA / "06-tuning-qlora.yaml")["LIVE"]
    doc, old_rev = _old_style(live)
    ws = workspace_from_dict(doc)
    digest = revision.spec_hash(ws)
    assert digest != ws.annotations[c.ANNOTATION_WORKSPACE_HASH]
    other = {**old_rev, "metadata": {**old_rev["metadata"], "annotations": {}}, "revision": 2}
    assert revision.unchanged_revision(ws, digest, [other, old_rev]) is old_rev


def test_a_changed_spec_under_an_old_hash_is_a_new_revision() -> None:
    live = documents(DATA / "06-tuning-qlora.yaml")["LIVE"]
    doc, old_rev = _old_style(live)
    doc["tuning"]["input"]["urls"] = ["https://example.com/other.parquet"]
    ws = workspace_from_dict(doc)
    assert revision.unchanged_revision(ws, revision.spec_hash(ws), [old_rev]) is None


def test_upstreams_own_revision_counts_as_the_same_spec() -> None:
    """Upstream's ``data`` is Go's rendering of the spec: it hashes like the Workspace."""
    docs = documents(DATA / "07-custom-template.yaml")
    live = json.loads(json.dumps(docs["LIVE"]))
    live["metadata"]["annotations"][c.ANNOTATION_WORKSPACE_HASH] = "0" * 64  # not reproduced
    rev = json.loads(json.dumps(docs["REVISION"]))
    rev["metadata"]["annotations"][c.ANNOTATION_WORKSPACE_HASH] = "0" * 64
    ws = workspace_from_dict(live)
    assert revision.unchanged_revision(ws, revision.spec_hash(ws), [rev]) is rev


def test_a_current_hash_needs_no_carrying_over() -> None:
    live = documents(DATA / "01-phi3-vllm.yaml")["LIVE"]
    ws = workspace_from_dict(live)
    rev = documents(DATA / "01-phi3-vllm.yaml")["REVISION"]
    assert revision.unchanged_revision(ws, revision.spec_hash(ws), [rev]) is None
