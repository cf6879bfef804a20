"""kaito takes over a Workspace upstream Kaito v0.12 reconciled without writing its workload.

For each captured inference Workspace (``tests/data/upstream-rendered``), the test puts in a
fresh namespace of the real control plane what upstream left there: the Workspace with its
hash/revision annotations, finalizer and status, the ControllerRevision, StatefulSet and
Services in upstream's shape (owned by that Workspace, namespace ``uref`` rewritten to the
test's everywhere, the multi-node leader's DNS name included), and upstream's NodeClaims
(upstream's random names) with their Nodes, which kwok keeps Ready and the StatefulSet's pods
run on. kaito's reconciler -- in-process, with upstream's manager settings -- then runs until
a pass writes nothing. Taking over writes the Workspace's status once (kaito adds its
``WorkspaceReady`` summary) and nothing else: the StatefulSet's and Services'
resourceVersions stay, no second ControllerRevision appears, the hash and revision
annotations stay, and no NodeClaim is added (each is a GPU VM). Then the StatefulSet's
command loses one flag (a template's args lose the last one), and kaito must put it back:
the check can fail.

The adapter cases (03a/03b) are left out: kaito's adapter puller script differs from
upstream's on purpose (tests/integration/parity/differences.yaml), so their takeover
rewrites the init container once.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml

from kaito import kinds
from kaito.api import constants as c
from kaito.api import workspace_from_dict
from kaito.controllers import desired
from kaito.controllers.diff import is_subset
from kaito.controllers.settings import Settings
from kaito.controllers.upstream_command import adopt_flag_order
from kaito.presets import default_catalog
from kaito.runtime import resources as r
from kaito.runtime.client import PatchType
from kaito.runtime.errors import NotFound
from tests.integration.controllers.test_bounded_nodeclaims import (  # noqa: F401  (fixture)
    Harness,
    make_harness,
)
from tests.support.kwok_nodes import gpu_node
from tests.support.waiting import async_wait_until

DATA = Path(__file__).resolve().parents[2] / "data" / "upstream-rendered"
CASES = [
    "01-phi3-vllm",
    "02-phi3-transformers",
    "04-phi4-tp2",
    "05-llama70b-multinode",
    "07-custom-template",
]
SETTINGS: dict[str, Any] = {
    "runtime_contract": "upstream",
    "status_hold": 0.0,
    "preset_registry": "mcr.microsoft.com/aks/kaito",
}
"""What upstream's operator ran with (as in test_upstream_parity)."""
UPSTREAM_NAMESPACE = "uref"
MAX_PASSES = 6
OWNED_KINDS = {
    "ControllerRevision": r.CONTROLLER_REVISION,
    "StatefulSet": r.STATEFUL_SET,
    "Service": r.SERVICE,
}


@attrs.frozen
class Reference:
    """What upstream left in the namespace, rewritten for another namespace."""

    inputs: list[dict[str, Any]]
    """The user's own objects the Workspace refers to (a Secret, a ConfigMap)."""
    workspace: dict[str, Any]
    """The LIVE Workspace: spec, annotations, finalizer and status."""
    owned: list[dict[str, Any]]
    """ControllerRevision, StatefulSet and Services, in upstream's shape."""
    claims: list[dict[str, Any]]


def _in_namespace(value: Any, namespace: str) -> Any:
    """``value`` with upstream's namespace ``uref`` replaced by ``namespace`` everywhere:
    namespace fields, label values, and the leader's DNS name in case 05's command."""
    if isinstance(value, dict):
        return {k: _in_namespace(v, namespace) for k, v in value.items()}
    if isinstance(value, list):
        return [_in_namespace(v, namespace) for v in value]
    if isinstance(value, str):
        if value == UPSTREAM_NAMESPACE:
            return namespace
        return re.sub(rf"(?<=\.){UPSTREAM_NAMESPACE}(?=\.svc\b)", namespace, value)
    return value


def load(case: str, namespace: str) -> Reference:
    inputs: list[dict[str, Any]] = []
    workspace: dict[str, Any] | None = None
    owned: list[dict[str, Any]] = []
    claims: list[dict[str, Any]] = []
    for chunk in (DATA / f"{case}.yaml").read_text(encoding="utf-8").split("\n---\n"):
        doc = yaml.safe_load(chunk)
        if not doc:
            continue
        doc = _in_namespace(doc, namespace)
        header = chunk.lstrip().splitlines()[0]
        if header.startswith("# INPUT pre-created"):
            inputs.append(doc)
        elif header.startswith("# LIVE Workspace"):
            workspace = doc
        elif header.startswith("# OWNED by Workspace"):
            owned.append(doc)
        elif header.startswith("# NodeClaim"):
            claims.append(doc)
    assert workspace is not None, case
    return Reference(inputs, workspace, owned, claims)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_for(claim: dict[str, Any], gpus: int) -> dict[str, Any]:
    """The Node a provisioner made for ``claim``: its labels, its single-valued
    requirements as labels, its taints, and upstream's ``accelerator=nvidia``."""
    labels = dict(claim["metadata"].get("labels") or {})
    for req in claim["spec"]["requirements"]:
        if req["operator"] == "In" and len(req.get("values") or []) == 1:
            labels[req["key"]] = req["values"][0]
    labels[c.LABEL_ACCELERATOR] = "nvidia"
    name = claim["metadata"]["name"]
    return gpu_node(name, gpus=gpus, labels=labels, taints=claim["spec"].get("taints") or [])


async def _put_nodes(h: Harness, ref: Reference, gpus: int) -> list[str]:
    names = []
    for claim in ref.claims:
        name = claim["metadata"]["name"]
        for rt in (r.NODE, kinds.NODECLAIM):  # left over from an interrupted run
            with contextlib.suppress(NotFound):
                await h.client.delete(rt, name)
        await async_wait_until(
            functools.partial(_absent, h, name),
            timeout=60,
            what=f"leftover Node/NodeClaim {name} gone",
        )
        created = await h.client.create(kinds.NODECLAIM, claim)
        created["status"] = {
            "nodeName": name,
            "providerID": f"kwok://{name}",
            "conditions": [
                {
                    "type": kind,
                    "status": "True",
                    "reason": kind,
                    "message": "",
                    "lastTransitionTime": _now(),
                }
                for kind in ("Launched", "Registered", "Initialized", "Ready")
            ],
        }
        await h.client.replace(kinds.NODECLAIM, created, subresource="status")
        await h.client.create(r.NODE, _node_for(claim, gpus))
        names.append(name)
    return names


async def _absent(h: Harness, name: str) -> bool:
    for rt in (r.NODE, kinds.NODECLAIM):
        try:
            await h.client.get(rt, name)
        except NotFound:
            continue
        return False
    return True


async def _put_workspace(h: Harness, ref: Reference) -> dict[str, Any]:
    body = copy.deepcopy(ref.workspace)
    upstream_status = body.pop("status")
    body["metadata"] = {
        k: v
        for k, v in body["metadata"].items()
        if k in ("name", "namespace", "annotations", "finalizers", "labels")
    }
    ws = await h.client.create(kinds.WORKSPACE, body, h.namespace, field_manager="kubectl-create")
    for cond in upstream_status.get("conditions") or []:
        cond["observedGeneration"] = ws["metadata"]["generation"]
        cond["lastTransitionTime"] = _now()
    await h.client.patch(
        kinds.WORKSPACE,
        ws["metadata"]["name"],
        {"status": upstream_status},
        h.namespace,
        subresource="status",
        field_manager="kaito-workspace",
    )
    return ws


async def _put_owned(h: Harness, ref: Reference, uid: str) -> None:
    for obj in ref.owned:
        body = copy.deepcopy(obj)
        for owner in body["metadata"].get("ownerReferences") or []:
            owner["uid"] = uid
        if body["kind"] == "Service" and body["metadata"]["name"].endswith("-headless"):
            # The capture dropped the allocated clusterIP(s); a headless one is "None".
            body["spec"]["clusterIP"] = "None"
        await h.client.create(
            OWNED_KINDS[body["kind"]], body, h.namespace, field_manager="kaito-workspace"
        )


def _settled(sts: dict[str, Any] | None) -> bool:
    if sts is None:
        return False
    want = int(sts["spec"].get("replicas", 1))
    got = sts.get("status") or {}
    return (
        int(got.get("observedGeneration", 0)) == int(sts["metadata"]["generation"])
        and int(got.get("readyReplicas", 0)) == want
        and int(got.get("currentReplicas", 0)) == want
    )


def _differing(want: Any, have: Any, path: str = "") -> list[str]:
    """Where ``want`` is not a subset of ``have`` (what makes kaito apply), with both values."""
    if isinstance(want, dict) and isinstance(have, dict):
        out: list[str] = []
        for key, value in want.items():
            sub = f"{path}.{key}" if path else key
            if key not in have:
                out.append(f"{sub}: kaito {value!r}, stored: absent")
            else:
                out += _differing(value, have[key], sub)
        return out
    if isinstance(want, list) and isinstance(have, list) and len(want) == len(have):
        return [
            line
            for i, (a, b) in enumerate(zip(want, have, strict=True))
            for line in _differing(a, b, f"{path}[{i}]")
        ]
    return [] if is_subset(want, have) else [f"{path}: kaito {want!r}, stored {have!r}"]


def _explain(h: Harness, ws_name: str) -> str:
    """kaito's desired manifests against the cached objects: the fields that differ."""
    obj = h.cache.get(kinds.WORKSPACE, ws_name, h.namespace)
    assert obj is not None
    ws = workspace_from_dict(obj)
    settings = Settings(**SETTINGS)
    resolved = desired.resolve(ws, default_catalog(), settings)
    rev = ws.annotations.get(c.ANNOTATION_WORKSPACE_REVISION, "1")
    lines = []
    for manifest in desired.inference_objects(ws, resolved, settings, rev):
        rt = OWNED_KINDS.get(manifest["kind"]) or r.CONFIG_MAP
        observed = h.cache.get(rt, manifest["metadata"]["name"], h.namespace)
        if rt is r.STATEFUL_SET:
            adopt_flag_order(manifest, observed)
        manifest["metadata"].pop("ownerReferences", None)
        for line in _differing(
            {k: v for k, v in manifest.items() if k not in ("apiVersion", "kind")}, observed or {}
        ):
            lines.append(f"{manifest['kind']}/{manifest['metadata']['name']} {line}")
    return "\n".join(lines) or "(no field differs)"


Write = tuple[str, str]


def _spy_on_writes(h: Harness) -> list[Write]:
    """Every request but a GET the reconciler's client sends, as (method, path)."""
    writes: list[Write] = []
    send = h.client.request

    async def request(method: str, path: str, **kwargs: Any) -> Any:
        if method != "GET":
            writes.append((method, path))
        return await send(method, path, **kwargs)

    h.client.request = request  # type: ignore[method-assign]
    return writes


async def _caught_up(h: Harness, rt: r.ResourceType, name: str, namespace: str | None) -> None:
    """Wait until the cache holds the object as the API server has it now, or newer
    (resourceVersions are etcd revisions here: they only grow)."""
    live = await h.client.get(rt, name, namespace)
    version = live["metadata"]["resourceVersion"]

    async def probe() -> bool:
        cached = h.cache.get(rt, name, namespace)
        return bool(cached and int(cached["metadata"]["resourceVersion"]) >= int(version))

    await async_wait_until(probe, timeout=30, what=f"the cache's {rt.kind} {name} at {version}")


async def _steady(h: Harness, name: str, writes: list[Write]) -> list[list[Write]]:
    """Reconcile until a pass sends no write (the cache caught up after each pass)."""
    passes: list[list[Write]] = []
    for _ in range(MAX_PASSES):
        start = len(writes)
        await h.reconcile(name)
        passes.append(writes[start:])
        if not passes[-1]:
            return passes
        await _caught_up(h, kinds.WORKSPACE, name, h.namespace)
        for rt in (r.STATEFUL_SET, r.SERVICE):
            for obj in h.cache.list(rt, h.namespace):
                await _caught_up(h, rt, obj["metadata"]["name"], h.namespace)
    raise AssertionError(f"not steady after {MAX_PASSES} passes: {passes}")


def _versions(objects: list[dict[str, Any]]) -> dict[str, str]:
    return {
        f"{o['kind']}/{o['metadata']['name']}": o["metadata"]["resourceVersion"] for o in objects
    }


async def _live_owned(h: Harness, ref: Reference) -> list[dict[str, Any]]:
    out = []
    for obj in ref.owned:
        live = await h.client.get(OWNED_KINDS[obj["kind"]], obj["metadata"]["name"], h.namespace)
        live["kind"] = obj["kind"]
        out.append(live)
    return out


def _words(script: str) -> list[str]:
    """A ``/bin/sh -c`` script as sorted words (upstream writes flags in random order)."""
    return sorted(script.replace(";", " ; ").split())


def _drop_a_flag(sts: dict[str, Any]) -> tuple[list[str], str] | None:
    """The main container's command without its last ``--flag``, and that flag (None for a
    command that is no ``/bin/sh -c`` script: a template's)."""
    command = list(sts["spec"]["template"]["spec"]["containers"][0].get("command") or [])
    if command[:2] != ["/bin/sh", "-c"]:
        return None
    flags = re.findall(r" (--[a-z][\w.-]*(?:=[^\s;]*)?)", command[2])
    if not flags:
        return None
    dropped = flags[-1]
    command[2] = command[2].replace(f" {dropped}", "", 1)
    return command, dropped


@pytest.mark.parametrize("case", CASES)
async def test_taking_over_an_upstream_workspace_writes_nothing_to_its_workload(
    case: str,
    make_harness: Callable[..., Any],  # noqa: F811  (the fixture imported above)
) -> None:
    h: Harness = await make_harness(**SETTINGS)
    ref = load(case, h.namespace)
    name = ref.workspace["metadata"]["name"]
    sku = default_catalog().sku(ref.workspace["resource"]["instanceType"], "azure")
    assert sku is not None
    nodes: list[str] = []
    try:
        for obj in ref.inputs:
            rt = r.SECRET if obj["kind"] == "Secret" else r.CONFIG_MAP
            await h.client.create(rt, obj, h.namespace, field_manager="kubectl-client-side-apply")
        nodes = await _put_nodes(h, ref, sku.gpu_count)
        ws = await _put_workspace(h, ref)
        await _put_owned(h, ref, ws["metadata"]["uid"])

        # What upstream's cluster looked like when kaito came: pods running, all settled.
        async def settled() -> dict[str, Any] | None:
            sts = await h.client.get(r.STATEFUL_SET, name, h.namespace)
            return sts if _settled(sts) else None

        await async_wait_until(settled, timeout=90, what=f"StatefulSet {name} rolled out")
        await _caught_up(h, kinds.WORKSPACE, name, h.namespace)
        for obj in ref.owned:
            await _caught_up(h, OWNED_KINDS[obj["kind"]], obj["metadata"]["name"], h.namespace)
        for node in nodes:
            await _caught_up(h, kinds.NODECLAIM, node, None)
            await _caught_up(h, r.NODE, node, None)
        await async_wait_until(
            lambda: _pods_cached(h, name, len(nodes)), timeout=30, what=f"pods of {name} cached"
        )
        before = _versions(await _live_owned(h, ref))
        ws_before = await h.client.get(kinds.WORKSPACE, name, h.namespace)

        writes = _spy_on_writes(h)
        passes = await _steady(h, name, writes)
        after = _versions(await _live_owned(h, ref))
        changed = sorted(k for k in before if before[k] != after[k])
        assert not changed, f"{case}: kaito wrote {changed}\n{_explain(h, name)}"
        ws_status = kinds.WORKSPACE.path(h.namespace, name, "status")
        others = [w for p in passes for w in p if w[1] != ws_status and "/events" not in w[1]]
        assert others == [], f"{case}: kaito wrote {others}\n{_explain(h, name)}"
        revisions = await h.client.list(  # not the StatefulSet controller's own
            r.CONTROLLER_REVISION, h.namespace, label_selector=f"{c.LABEL_WORKSPACE_NAME}={name}"
        )
        assert [x["metadata"]["name"] for x in revisions.items] == [
            o["metadata"]["name"] for o in ref.owned if o["kind"] == "ControllerRevision"
        ]
        ws_after = await h.client.get(kinds.WORKSPACE, name, h.namespace)
        keys = (c.ANNOTATION_WORKSPACE_HASH, c.ANNOTATION_WORKSPACE_REVISION)
        assert {k: ws_after["metadata"]["annotations"][k] for k in keys} == {
            k: ref.workspace["metadata"]["annotations"][k] for k in keys
        }
        assert ws_after["metadata"]["annotations"] == ws_before["metadata"]["annotations"]
        assert ws_after["metadata"]["finalizers"] == [c.WORKSPACE_FINALIZER]
        claims = await h.claims(name)
        assert sorted(x["metadata"]["name"] for x in claims) == sorted(nodes)
        assert ws_after["status"]["workerNodes"] == sorted(nodes)
        # Upstream's conditions stay as they were (kaito adds its WorkspaceReady summary).
        said = {
            x["type"]: (x["status"], x["reason"], x["message"])
            for x in ws_after["status"]["conditions"]
        }
        for cond in ref.workspace["status"]["conditions"]:
            assert said[cond["type"]] == (cond["status"], cond["reason"], cond["message"])
        assert said[c.CONDITION_WORKSPACE_READY][0] == "True", ws_after["status"]

        # The check can fail: a StatefulSet whose command lost a flag (a template's: whose
        # args lost the last one) is rewritten.
        sts = await h.client.get(r.STATEFUL_SET, name, h.namespace)
        container = sts["spec"]["template"]["spec"]["containers"][0]
        dropped = _drop_a_flag(sts)
        if dropped is None:
            field, value = "args", container["args"][:-1]
        else:
            field, value = "command", dropped[0]
        await h.client.patch(
            r.STATEFUL_SET,
            name,
            [
                {
                    "op": "replace",
                    "path": f"/spec/template/spec/containers/0/{field}",
                    "value": value,
                }
            ],
            h.namespace,
            patch_type=PatchType.JSON,
        )
        await _caught_up(h, r.STATEFUL_SET, name, h.namespace)
        start = len(writes)
        await h.reconcile(name)
        sts_path = r.STATEFUL_SET.path(h.namespace, name)
        assert ("PATCH", sts_path) in writes[start:], writes[start:]  # kaito's apply
        restored = await h.client.get(r.STATEFUL_SET, name, h.namespace)
        again = restored["spec"]["template"]["spec"]["containers"][0]
        if dropped is None:
            assert again["args"] == container["args"]
        else:
            assert f" {dropped[1]}" in again["command"][2]
            assert _words(again["command"][2]) == _words(container["command"][2])
    finally:
        for node in nodes:
            with contextlib.suppress(NotFound):
                await h.client.delete(r.NODE, node)


async def _pods_cached(h: Harness, name: str, count: int) -> bool:
    pods = [
        p
        for p in h.cache.list(r.POD, h.namespace)
        if (p["metadata"].get("labels") or {}).get(c.LABEL_WORKSPACE) == name
        and (p.get("status") or {}).get("phase") == "Running"
    ]
    return len(pods) == count
