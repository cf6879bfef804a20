"""kaito's ``upstream`` runtime contract renders what upstream Kaito v0.12 renders.

For each inference Workspace captured from upstream's operator (``tests/data/
upstream-rendered``), kaito renders its objects with the ``upstream`` contract, the real API
server fills in its defaults (a server-side dry run, as a create would), and the result is
compared with upstream's live objects field by field. ``/bin/sh -c`` scripts are compared
as sets of words, because upstream writes its flags in random order. Every field that
differs must be listed, with its reason, in ``differences.yaml`` next to this file; a new
difference, or a listed one that went away, fails the test. The tuning case (06) is
compared the same way: its Job, and the default ConfigMap upstream copies from its release
namespace into the Workspace's.
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
from kaito.controllers import desired, nodeclaims, upstream_tuning
from kaito.controllers.settings import Settings
from kaito.presets import default_catalog
from kaito.testenv import ControlPlane
from tests.e2e.conftest import install_crds

DATA = Path(__file__).resolve().parents[2] / "data" / "upstream-rendered"
DIFFERENCES = yaml.safe_load((Path(__file__).parent / "differences.yaml").read_text())
CASES = [
    "01-phi3-vllm",
    "02-phi3-transformers",
    "03a-mistral-adapter-vllm",
    "03b-mistral-adapter-tf",
    "04-phi4-tp2",
    "05-llama70b-multinode",
    "07-custom-template",
]
SETTINGS = Settings(runtime_contract="upstream", preset_registry="mcr.microsoft.com/aks/kaito")
"""What upstream's operator ran with: PRESET_REGISTRY_NAME=mcr.microsoft.com/aks/kaito."""
VOLATILE_METADATA = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields")
TUNING_CASE = "06-tuning-qlora"
JOB_UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")
"""The Job's selector and pod labels carry the Job's own uid (random per object)."""


def reference(case: str) -> tuple[dict[str, Any], dict[tuple[str, str], dict[str, Any]]]:
    """The input Workspace and upstream's objects it owns, by (kind, name)."""
    docs = [d for d in yaml.safe_load_all((DATA / f"{case}.yaml").read_text()) if d]
    ws = docs[0]
    owned = {
        (d["kind"], d["metadata"]["name"]): d
        for d in docs[1:]
        if d["kind"] in ("StatefulSet", "Service")
        and any(
            o.get("name") == ws["metadata"]["name"]
            for o in d["metadata"].get("ownerReferences", [])
        )
    }
    return ws, owned


def normalise(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop what the API server or a run makes volatile; scripts become sorted word lists."""
    out = copy.deepcopy(obj)
    meta = out["metadata"]
    for key in VOLATILE_METADATA:
        meta.pop(key, None)
    for owner in meta.get("ownerReferences", []):
        owner.pop("uid", None)
    out.pop("status", None)
    spec = out.get("spec", {})
    if out["kind"] == "Service":
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)
    if out["kind"] == "Job":
        for labels in (
            spec.get("selector", {}).get("matchLabels", {}),
            spec.get("template", {}).get("metadata", {}).get("labels", {}),
        ):
            for key in JOB_UID_LABELS:
                if key in labels:
                    labels[key] = "<the Job's uid>"
    return _scripts_as_sets(out)


def _scripts_as_sets(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scripts_as_sets(v) for k, v in value.items()}
    if isinstance(value, list):
        if len(value) == 3 and value[:2] == ["/bin/sh", "-c"] and isinstance(value[2], str):
            return ["/bin/sh", "-c", sorted(value[2].replace(";", " ; ").split())]
        return [_scripts_as_sets(v) for v in value]
    return value


def differing_paths(ours: Any, theirs: Any, path: str = "") -> set[str]:
    """Paths (``spec.template.spec.containers[0].image``) where the two values differ."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        out: set[str] = set()
        for key in ours.keys() | theirs.keys():
            sub = f"{path}.{key}" if path else key
            if key not in ours or key not in theirs:
                out.add(sub)
            else:
                out |= differing_paths(ours[key], theirs[key], sub)
        return out
    if (
        isinstance(ours, list)
        and isinstance(theirs, list)
        and len(ours) == len(theirs)
        and not (ours and isinstance(ours[-1], str) and path.endswith("command"))
    ):
        out = set()
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            out |= differing_paths(a, b, f"{path}[{i}]")
        return out
    return set() if ours == theirs else {path}


def dry_run(plane: ControlPlane, namespace: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """The object as the API server would store it (defaults applied), without storing it."""
    body = copy.deepcopy(manifest)
    scope = ["-n", namespace] if "namespace" in body["metadata"] else []
    if scope:
        body["metadata"]["namespace"] = namespace
    owners = body["metadata"].pop("ownerReferences", None)  # no real owner in a dry run
    proc = plane.kubectl(
        "create", "--dry-run=server", "-o", "json", *scope, "-f", "-", input=json.dumps(body)
    )
    stored: dict[str, Any] = json.loads(proc.stdout)
    if scope:
        stored["metadata"]["namespace"] = manifest["metadata"]["namespace"]
    if owners is not None:
        stored["metadata"]["ownerReferences"] = owners
    return stored


@pytest.mark.parametrize("case", CASES)
def test_upstream_contract_renders_what_upstream_renders(
    case: str, control_plane: ControlPlane, namespace: str
) -> None:
    raw, theirs = reference(case)
    raw = copy.deepcopy(raw)
    raw["metadata"]["uid"] = "00000000-0000-0000-0000-000000000001"
    ws = workspace_from_dict(raw)
    resolved = desired.resolve(ws, default_catalog(), SETTINGS)
    assert resolved.contract == "upstream"
    ours = {
        (m["kind"], m["metadata"]["name"]): m
        for m in desired.inference_objects(ws, resolved, SETTINGS, "1")
    }
    assert set(ours) == set(theirs), "kaito owns other objects than upstream does"
    found: dict[str, str] = {}
    for key, manifest in sorted(ours.items()):
        stored = normalise(dry_run(control_plane, namespace, manifest))
        for path in differing_paths(stored, normalise(theirs[key])):
            found[f"{key[0]}/{key[1]}: {path}"] = ""
    assert sorted(found) == sorted(listed_differences(case))


def dry_run_configmap(plane: ControlPlane, namespace: str, manifest: dict[str, Any]) -> Any:
    """:func:`dry_run` for a ConfigMap, as a raw POST: ``kubectl create`` would rewrite its
    ``kubectl.kubernetes.io/last-applied-configuration`` annotation, a client does not."""
    body = copy.deepcopy(manifest)
    body["metadata"]["namespace"] = namespace
    path = f"/api/v1/namespaces/{namespace}/configmaps?dryRun=All"
    stored = json.loads(
        plane.kubectl("create", "--raw", path, "-f", "-", input=json.dumps(body)).stdout
    )
    stored["metadata"]["namespace"] = manifest["metadata"]["namespace"]
    return stored


def listed_differences(case: str) -> dict[str, str]:
    listed = {
        f"{entry['object']}: {entry['path']}": entry["reason"]
        for entry in DIFFERENCES.get(case) or []
    }
    assert all(listed.values()), "every listed difference says why"
    return listed


def _tuning_reference() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Case 06's input Workspace, upstream's Job, and the ConfigMap upstream copied."""
    docs = [d for d in yaml.safe_load_all((DATA / f"{TUNING_CASE}.yaml").read_text()) if d]
    (job,) = [d for d in docs if d["kind"] == "Job"]
    (copied,) = [d for d in docs if d["kind"] == "ConfigMap"]
    return docs[0], job, copied


def _release_template(plane: ControlPlane, copied: dict[str, Any], release: str) -> Any:
    """The default ConfigMap as the release namespace holds it, read back from the API server.

    The reference run applied upstream's Helm-chart ConfigMap there; upstream copies it
    verbatim, so its copy is that object in another namespace (the ``kubectl apply``
    annotation included). A raw POST stores it as it is (``kubectl create`` would rewrite
    that annotation)."""
    source = copy.deepcopy(copied)
    source["metadata"]["namespace"] = release
    path = f"/api/v1/namespaces/{release}/configmaps"
    plane.kubectl("create", "--raw", path, "-f", "-", input=json.dumps(source))
    name = source["metadata"]["name"]
    return json.loads(plane.kubectl("get", "configmap", name, "-n", release, "-o", "json").stdout)


def test_upstream_contract_tunes_as_upstream_does(
    control_plane: ControlPlane, namespace: str
) -> None:
    """Case 06: the tuning Job and the default ConfigMap copied into the Workspace's namespace."""
    raw, their_job, their_copy = _tuning_reference()
    raw = copy.deepcopy(raw)
    raw["metadata"]["uid"] = "00000000-0000-0000-0000-000000000001"
    ws = workspace_from_dict(raw)
    catalog = default_catalog()
    resolved = desired.resolve(ws, catalog, SETTINGS)
    assert resolved.contract == "upstream"
    preset = catalog.tuning_preset(ws.preset_name or "")
    assert preset is not None
    release = f"{namespace}-release"
    control_plane.kubectl("create", "namespace", release)
    try:
        template = _release_template(control_plane, their_copy, release)
    finally:
        control_plane.kubectl("delete", "namespace", release, "--wait=false")
    our_copy = upstream_tuning.copied_config_map(template, ws.namespace)
    assert upstream_tuning.config_map_name(ws) == our_copy["metadata"]["name"]
    job = upstream_tuning.tuning_job(
        ws,
        preset,
        resolved.sku,
        SETTINGS,
        "1",
        results=upstream_tuning.results_dir(our_copy),
    )
    found: dict[str, str] = {}
    for manifest, theirs in ((job, their_job), (our_copy, their_copy)):
        stored = normalise(
            dry_run_configmap(control_plane, namespace, manifest)
            if manifest["kind"] == "ConfigMap"
            else dry_run(control_plane, namespace, manifest)
        )
        key = f"{manifest['kind']}/{manifest['metadata']['name']}"
        for path in differing_paths(stored, normalise(theirs)):
            found[f"{key}: {path}"] = ""
    assert sorted(found) == sorted(listed_differences(TUNING_CASE))


@pytest.mark.parametrize("case", [*CASES, TUNING_CASE])
def test_nodeclaims_are_the_ones_upstream_asks_for(
    case: str, control_plane: ControlPlane, namespace: str
) -> None:
    """Labels, annotations and spec of each NodeClaim (their names are random upstream)."""
    install_crds(control_plane)
    docs = [d for d in yaml.safe_load_all((DATA / f"{case}.yaml").read_text()) if d]
    raw = copy.deepcopy(docs[0])
    raw["metadata"]["uid"] = "00000000-0000-0000-0000-000000000001"
    ws = workspace_from_dict(raw)
    config = next(
        (
            d["data"]["inference_config.yaml"]
            for d in docs
            if d["kind"] == "ConfigMap" and "inference_config.yaml" in (d.get("data") or {})
        ),
        None,
    )
    resolved = desired.resolve(ws, default_catalog(), SETTINGS, config)
    preset = resolved.preset or (
        default_catalog().tuning_preset(ws.preset_name) if ws.preset_name else None
    )
    theirs = [d for d in docs if d["kind"] == "NodeClaim"]
    ours = [
        nodeclaims.nodeclaim(ws, i, preset, SETTINGS, sku=resolved.sku)
        for i in range(resolved.nodes)
    ]
    assert len(ours) == len(theirs)
    for mine, upstream in zip(ours, theirs, strict=True):
        stored = dry_run(control_plane, namespace, mine)
        for part in (stored, upstream):
            part["metadata"].pop("name")
            part.pop("status", None)
        # kaito's one addition: the label upstream's controller patches onto a GPU node once
        # it joins, carried by the claim instead (the node joins with it: one write fewer)
        gpus = resolved.sku is not None and resolved.sku.gpu_count > 0
        accelerator = stored["metadata"]["labels"].pop(c.LABEL_ACCELERATOR, None)
        assert accelerator == ("nvidia" if gpus else None)
        found = differing_paths(normalise(stored), normalise(upstream))
        assert found == set(), found
