"""What kaito renders for a CPU preset whose weights are an OCI artifact (smollm2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import yaml

from kaito.api.meta import LabelSelector
from kaito.api.wire import workspace_from_dict
from kaito.cli.settings_flags import comma_list
from kaito.controllers import desired, nodeclaims
from kaito.controllers.nodes import plan_nodes
from kaito.controllers.settings import Settings
from kaito.presets import default_catalog

SAMPLE = (
    Path(__file__).parents[3] / "manifests" / "samples" / "workspace-smollm2-135m-instruct.yaml"
)
LOCAL = Settings(
    preset_registry="10.245.0.1:5000/kaito",
    inference_image="10.245.0.1:5000/kaito/kaito-inference:0.1.0",
    weights_puller_image="10.245.0.1:5000/kaito/kaito-puller:0.1.0",
    insecure_registries=("10.245.0.1:5000",),
)


def _workspace(
    instance_type: str = "Standard_D4s_v5", preset: str = "smollm2-135m-instruct"
) -> Any:
    data = yaml.safe_load(SAMPLE.read_text())
    data["metadata"].update(namespace="default", uid="00000000-0000-0000-0000-000000000001")
    data["resource"]["instanceType"] = instance_type
    data["inference"]["preset"]["name"] = preset
    return workspace_from_dict(data)


def _render(ws: Any, settings: Settings) -> list[dict[str, Any]]:
    resolved = desired.resolve(ws, default_catalog(), settings)
    claims = [nodeclaims.nodeclaim(ws, 0, resolved.preset, settings, sku=resolved.sku)]
    return claims + desired.inference_objects(ws, resolved, settings, revision="1")


def _pod(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (workload,) = [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")]
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def test_cpu_pod_requests_cpu_and_memory_and_no_gpu() -> None:
    pod = _pod(_render(_workspace(), LOCAL))
    (container,) = pod["containers"]
    assert container["resources"] == {"requests": {"cpu": "1", "memory": "2Gi"}}
    assert "nvidia.com/gpu" not in yaml.safe_dump(container)
    assert container["image"] == "10.245.0.1:5000/kaito/kaito-inference:0.1.0"
    assert container["command"][:3] == [
        "kaito-inference",
        "--engine=transformers",
        "--model=/workspace/weights",
    ]
    assert {"--device=cpu", "--dtype=float32"} <= set(container["command"])
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": 5000}


def test_weights_come_from_the_artifact_through_an_emptydir() -> None:
    pod = _pod(_render(_workspace(), LOCAL))
    (init,) = pod["initContainers"]
    assert init["name"] == "model-weights-downloader"
    assert init["image"] == "10.245.0.1:5000/kaito/kaito-puller:0.1.0"
    assert init["command"] == [
        "oras",
        "pull",
        "10.245.0.1:5000/kaito/kaito-smollm2-135m-instruct:0.1.0",
        "-o",
        "/workspace/weights",
        "--plain-http",
    ]
    mount = {"name": "model-weights-volume", "mountPath": "/workspace/weights"}
    assert mount in init["volumeMounts"]
    assert mount in pod["containers"][0]["volumeMounts"]
    assert {"name": "model-weights-volume", "emptyDir": {}} in pod["volumes"]


def test_plain_http_only_for_insecure_registries() -> None:
    secure = Settings(
        preset_registry="myregistry.azurecr.io/kaito", insecure_registries=("10.245.0.1:5000",)
    )
    (init,) = _pod(_render(_workspace(), secure))["initContainers"]
    assert init["command"][2] == "myregistry.azurecr.io/kaito/kaito-smollm2-135m-instruct:0.1.0"
    assert "--plain-http" not in init["command"]
    assert Settings(insecure_registries=("A.example:5000",)).plain_http("a.example:5000/x:1")
    assert not Settings().plain_http("10.245.0.1:5000/x:1")


def test_default_inference_image_names_no_registry() -> None:
    container = _pod(_render(_workspace(), Settings()))["containers"][0]
    assert container["image"] == "kaito-inference:0.1.0"


def test_cpu_sku_nodeclaim_has_no_gpu_taint_and_gpu_sku_keeps_it() -> None:
    cpu_claim = _render(_workspace(), LOCAL)[0]
    assert cpu_claim["kind"] == "NodeClaim" and "taints" not in cpu_claim["spec"]
    assert nodeclaims.nodeclaim(_workspace(), 0, None, LOCAL)["spec"].get("taints") is None
    gpu_objects = _render(_workspace("Standard_NC6s_v3"), LOCAL)
    assert gpu_objects[0]["spec"]["taints"] == [
        {"key": "sku", "value": "gpu", "effect": "NoSchedule"}
    ]
    # a CPU preset on a GPU node runs on its CPUs: still no GPU request, tolerations kept
    pod = _pod(gpu_objects)
    assert pod["containers"][0]["resources"] == {"requests": {"cpu": "1", "memory": "2Gi"}}
    assert {t["key"] for t in pod["tolerations"]} == {"nvidia.com/gpu", "sku"}


def test_gpu_presets_on_kaitos_contract_run_kaitos_image_and_download_the_weights() -> None:
    local = attrs.evolve(LOCAL, runtime_contract="kaito")
    pod = _pod(_render(_workspace("Standard_NC6s_v3", "phi-3-mini-4k-instruct"), local))
    container = pod["containers"][0]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert container["image"] == LOCAL.inference_image
    assert container["command"][0] == "kaito-inference"
    assert "--model=microsoft/Phi-3-mini-4k-instruct" in container["command"]
    assert "--download-dir=/workspace/weights" in container["command"]
    assert {"name": "model-weights-volume", "mountPath": "/workspace/weights"} in container[
        "volumeMounts"
    ]
    assert "initContainers" not in pod and "startupProbe" in container


def test_gpu_presets_on_upstreams_contract_run_kaito_base() -> None:
    pod = _pod(_render(_workspace("Standard_NC6s_v3", "phi-3-mini-4k-instruct"), LOCAL))
    container = pod["containers"][0]
    assert container["image"] == "10.245.0.1:5000/kaito/kaito-base:0.5.0"
    assert container["command"][:2] == ["/bin/sh", "-c"]
    assert container["command"][2].startswith("python3 /workspace/vllm/inference_api.py ")


def _node(name: str, gpus: int | None) -> dict[str, Any]:
    capacity = {"cpu": "2", "memory": "8Gi"}
    if gpus is not None:
        capacity["nvidia.com/gpu"] = str(gpus)
    return {
        "metadata": {
            "name": name,
            "labels": {"apps": "smollm2", "node.kubernetes.io/instance-type": "Standard_D4s_v5"},
        },
        "status": {"capacity": capacity, "conditions": [{"type": "Ready", "status": "True"}]},
    }


def test_cpu_nodes_qualify_only_for_cpu_presets() -> None:
    nodes = [_node("cpu-1", None), _node("cpu-2", 0)]
    args: dict[str, Any] = {
        "selector": LabelSelector(match_labels={"apps": "smollm2"}),
        "instance_type": "Standard_D4s_v5",
        "required": 2,
        "nodes": nodes,
        "own_claim_nodes": [],
    }
    assert plan_nodes(**args).worker_nodes == ()
    assert plan_nodes(**args, needs_gpu=False).worker_nodes == ("cpu-1", "cpu-2")


def test_insecure_registries_flag_value() -> None:
    assert comma_list(" 10.245.0.1:5000, ,localhost:5000/ ") == (
        "10.245.0.1:5000",
        "localhost:5000",
    )
    assert comma_list("") == ()
