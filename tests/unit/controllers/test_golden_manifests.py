"""Golden files pin every manifest kaito renders for the sample Workspaces.

Update them on purpose with ``UPDATE_GOLDEN=1 pytest tests/unit/controllers``,
then read the diff like any code change.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from kaito.api.wire import workspace_from_dict
from kaito.controllers import desired, nodeclaims
from kaito.controllers.settings import Settings
from kaito.presets import default_catalog
from kaito.render import dump_documents

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
SETTINGS = Settings(runtime_contract="kaito")
"""These goldens pin kaito's own runtime contract; tests/integration/parity pins upstream's."""
UID = "0b7c2b1e-5d3a-4c4e-9d2f-1a2b3c4d5e6f"


def _workspace(name: str, body: dict[str, Any], annotations: dict[str, str] | None = None) -> Any:
    metadata: dict[str, Any] = {"name": name, "namespace": "default", "uid": UID}
    if annotations:
        metadata["annotations"] = annotations
    return workspace_from_dict(
        {"apiVersion": "kaito.sh/v1beta1", "kind": "Workspace", "metadata": metadata, **body}
    )


CASES: dict[str, Any] = {
    "phi-3-mini": _workspace(
        "workspace-phi-3-mini",
        {
            "resource": {
                "instanceType": "Standard_NC6s_v3",
                "labelSelector": {"matchLabels": {"apps": "phi-3"}},
            },
            "inference": {"preset": {"name": "phi-3-mini-4k-instruct"}},
        },
    ),
    "two-gpu": _workspace(
        "workspace-qwen-coder",
        {
            "resource": {
                "instanceType": "Standard_NC12s_v3",
                "labelSelector": {"matchLabels": {"apps": "qwen-coder"}},
            },
            "inference": {"preset": {"name": "qwen2.5-coder-7b-instruct"}},
        },
        annotations={"kaito.sh/enablelb": "True"},
    ),
    "distributed": _workspace(
        "workspace-llama-70b",
        {
            "resource": {
                "count": 2,
                "instanceType": "Standard_NC96ads_A100_v4",
                "labelSelector": {"matchLabels": {"apps": "llama-70b"}},
            },
            "inference": {
                "preset": {
                    "name": "llama-3.3-70b-instruct",
                    "presetOptions": {"modelAccessSecret": "hf-token"},
                }
            },
        },
    ),
    "adapters": _workspace(
        "workspace-phi-3-mini-adapter",
        {
            "resource": {
                "instanceType": "Standard_NC6s_v3",
                "labelSelector": {"matchLabels": {"apps": "phi-3-adapter"}},
            },
            "inference": {
                "preset": {"name": "phi-3-mini-128k-instruct"},
                "adapters": [
                    {
                        "source": {
                            "name": "phi-3-adapter",
                            "image": "myregistry.azurecr.io/adapters/phi-3:0.0.1",
                            "imagePullSecrets": ["acr-pull"],
                        },
                        "strength": "1.0",
                    },
                    {
                        "source": {
                            "name": "local-adapter",
                            "volumeSource": {"persistentVolumeClaim": {"claimName": "adapters"}},
                        },
                        "strength": "0.4",
                    },
                ],
            },
        },
    ),
    "smollm2": _workspace(
        "workspace-smollm2",
        {
            "resource": {
                "instanceType": "Standard_D4s_v5",
                "labelSelector": {"matchLabels": {"apps": "smollm2"}},
            },
            "inference": {"preset": {"name": "smollm2-135m-instruct"}},
        },
    ),
    "custom-template": _workspace(
        "workspace-custom",
        {
            "resource": {
                "instanceType": "Standard_NC6s_v3",
                "labelSelector": {"matchLabels": {"apps": "custom"}},
            },
            "inference": {
                "template": {
                    "metadata": {"labels": {"app": "custom"}},
                    "spec": {
                        "containers": [
                            {
                                "name": "server",
                                "image": "myregistry.azurecr.io/custom-llm:1.0",
                                "ports": [{"containerPort": 5000}],
                                "resources": {"limits": {"nvidia.com/gpu": "1"}},
                            }
                        ]
                    },
                }
            },
        },
    ),
}


def render_case(ws: Any) -> list[dict[str, Any]]:
    resolved = desired.resolve(ws, default_catalog(), SETTINGS)
    manifests: list[dict[str, Any]] = [
        nodeclaims.nodeclaim(ws, i, resolved.preset, SETTINGS)
        for i in range(ws.resource.node_count)
    ]
    return manifests + desired.inference_objects(ws, resolved, SETTINGS, revision="1")


@pytest.mark.parametrize("case", sorted(CASES))
def test_rendered_manifests_match_golden(case: str) -> None:
    text = dump_documents(render_case(CASES[case]))
    path = GOLDEN / f"inference-{case}.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} missing; run with UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text()


def test_distributed_preset_runs_as_statefulset_with_headless_leader() -> None:
    kinds = [m["kind"] for m in render_case(CASES["distributed"])]
    assert kinds == ["NodeClaim", "NodeClaim", "ConfigMap", "Service", "Service", "StatefulSet"]


def test_adapters_become_pullers_mounts_and_strength_env() -> None:
    deployment = render_case(CASES["adapters"])[-1]
    pod = deployment["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["puller-phi-3-adapter"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env == {"phi-3-adapter": "1.0", "local-adapter": "0.4"}
    mounts = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert "/mnt/adapter/local-adapter" in mounts
    assert pod["imagePullSecrets"] == [{"name": "acr-pull"}]


def test_nodeclaim_names_are_deterministic_and_valid_agent_pool_names() -> None:
    ws = CASES["phi-3-mini"]
    names = {nodeclaims.nodeclaim_name(ws, i) for i in range(3)}
    assert len(names) == 3
    assert names == {nodeclaims.nodeclaim_name(ws, i) for i in range(3)}
    for name in names:
        assert len(name) == 11
        assert name[0].isalpha()
        assert name.isalnum()
        assert name.islower()


def test_template_workspace_keeps_user_pod_and_adds_affinity_and_tolerations() -> None:
    deployment = render_case(CASES["custom-template"])[-1]
    pod = deployment["spec"]["template"]
    assert pod["spec"]["containers"][0]["image"] == "myregistry.azurecr.io/custom-llm:1.0"
    assert pod["metadata"]["labels"] == {"app": "custom", "kaito.sh/workspace": "workspace-custom"}
    affinity = pod["spec"]["affinity"]["nodeAffinity"]
    terms = affinity["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"][0]["matchExpressions"] == [
        {"key": "apps", "operator": "In", "values": ["custom"]}
    ]
    assert {t["key"] for t in pod["spec"]["tolerations"]} == {"nvidia.com/gpu", "sku"}
