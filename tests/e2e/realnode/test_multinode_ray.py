"""kaito-contract pods on a real kubelet, applied as kaito renders them (no manager).

A multi-node Workspace's pods form one Ray cluster; a missing weights artifact is reported
in the registry's words.

This machine hosts one real node, so both pods of a two-node Workspace run on it: the node
is a 2-GPU SKU with ``--simulated-gpus`` (it advertises ``nvidia.com/gpu: 2``; no GPU is
touched) and the Workspace asks for two 1-GPU nodes. kaito renders the objects
(:func:`kaito.controllers.desired.inference_objects`, the ``kaito`` contract) and they are
applied as they are, without the manager, which would wait for a second node the machine
cannot host. Pod 0 starts the Ray head, pod 1 joins it through the Workspace's Service, and
pod 0 prints ``ray status`` once both are in: the test reads that from its log. Then pod 0
execs ``kaito-inference --engine=vllm``, which cannot run here (no vllm, no GPU), and says so.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kaito.api import workspace_from_dict
from kaito.controllers import desired
from kaito.controllers.pod_failures import PodFailure, first_failure
from kaito.controllers.settings import Settings
from kaito.presets import default_catalog
from kaito.provisioner.cloud.base import InstanceRequest
from kaito.runtime.client import Client
from kaito.testenv import ControlPlane
from tests.e2e.realnode.conftest import LOCAL_REGISTRY
from tests.support.local_nodes import local_provider
from tests.support.waiting import async_wait_until

NODE_SKU = "Standard_NC48ads_A100_v4"
"""2 GPUs: room for both 1-GPU pods on the one real node."""
WORKSPACE_SKU = "Standard_NC24ads_A100_v4"
LABELS = {"apps": "ray-e2e"}


@pytest.fixture(scope="module")
async def client(control_plane: ControlPlane) -> AsyncIterator[Client]:
    async with await Client.from_kubeconfig(control_plane.kubeconfig) as c:
        yield c


@pytest.fixture(scope="module")
async def gpu_node(client: Client, local_artifacts: dict[str, str]) -> AsyncIterator[str]:
    async with local_provider(
        client,
        Path(local_artifacts["KAITO_NODE_BIN"]),
        local_artifacts["KAITO_PAUSE_IMAGE"],
        simulated_gpus=True,
        prefix="kaito-ray-",
    ) as provider:
        await provider.create(InstanceRequest("local-ray-gpu", NODE_SKU, labels=LABELS))
        yield "local-ray-gpu"


def _workspace(namespace: str) -> Any:
    return workspace_from_dict(
        {
            "apiVersion": "kaito.sh/v1beta1",
            "kind": "Workspace",
            "metadata": {"name": "llama-ray", "namespace": namespace, "uid": "e2e"},
            "resource": {
                "count": 2,
                "instanceType": WORKSPACE_SKU,
                "labelSelector": {"matchLabels": LABELS},
            },
            "inference": {"preset": {"name": "llama-3.3-70b-instruct"}},
        }
    )


def _kubectl(plane: ControlPlane, *args: str, stdin: str | None = None) -> str:
    proc = plane.kubectl(*args, input=stdin, check=False)
    return str(proc.stdout) + str(proc.stderr)


async def test_two_pods_of_a_multi_node_workspace_form_one_ray_cluster(
    control_plane: ControlPlane,
    namespace: str,
    gpu_node: str,
    local_artifacts: dict[str, str],
) -> None:
    settings = Settings(
        runtime_contract="kaito",
        inference_image=local_artifacts["KAITO_INFERENCE_IMAGE"],
        preset_registry=f"{LOCAL_REGISTRY}/kaito",
        insecure_registries=(LOCAL_REGISTRY,),
    )
    ws = _workspace(namespace)
    resolved = desired.resolve(ws, default_catalog(), settings)
    assert (resolved.contract, resolved.runtime, resolved.statefulset) == ("kaito", "vllm", True)
    for manifest in desired.inference_objects(ws, resolved, settings, "1"):
        manifest["metadata"].pop("ownerReferences", None)  # no Workspace object: no GC owner
        control_plane.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))

    def leader_log() -> str:
        current = _kubectl(control_plane, "logs", "-n", namespace, "llama-ray-0")
        previous = _kubectl(control_plane, "logs", "-n", namespace, "llama-ray-0", "--previous")
        return current + "\n" + previous

    async def formed() -> str | None:
        log = leader_log()
        return log if "Ray cluster formed: 2 of 2 nodes alive" in log else None

    log = await async_wait_until(
        formed, timeout=600, interval=5, what="pod 0's Ray cluster of 2 nodes"
    )
    # the GCS's own view: two alive nodes, one per pod (two pod IPs)
    nodes = set(re.findall(r"ray node ([0-9a-f]+) at (\S+) alive", log))
    assert len(nodes) == 2 and len({ip for _, ip in nodes}) == 2, log
    pods = json.loads(control_plane.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)[
        "items"
    ]
    assert {ip for _, ip in nodes} <= {p["status"].get("podIP") for p in pods}, log
    worker = _kubectl(control_plane, "logs", "-n", namespace, "llama-ray-1")
    assert "joining the Ray head at " in worker, worker
    pods = json.loads(control_plane.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)[
        "items"
    ]
    assert {p["spec"].get("nodeName") for p in pods} == {gpu_node}

    # vLLM itself needs a GPU and the vllm package, neither of which this machine has
    async def vllm_refused() -> str | None:
        text = leader_log()
        return text if "needs the vllm package" in text else None

    await async_wait_until(
        vllm_refused, timeout=300, interval=5, what="kaito-inference saying vLLM is missing"
    )
    control_plane.kubectl("delete", "statefulset", "llama-ray", "-n", namespace, check=False)


async def test_a_missing_weights_artifact_is_reported_in_the_registrys_words(
    control_plane: ControlPlane,
    namespace: str,
    gpu_node: str,
    local_artifacts: dict[str, str],
) -> None:
    """The SmolLM2 preset with a registry that lacks its artifact: the real oras init
    container fails, and the pod the real kubelet reports classifies as a weights failure
    carrying oras's own message."""
    settings = Settings(
        runtime_contract="kaito",
        inference_image=local_artifacts["KAITO_INFERENCE_IMAGE"],
        weights_puller_image=local_artifacts["KAITO_PULLER_IMAGE"],
        preset_registry=f"{LOCAL_REGISTRY}/no-such-project",
        insecure_registries=(LOCAL_REGISTRY,),
    )
    ws = workspace_from_dict(
        {
            "apiVersion": "kaito.sh/v1beta1",
            "kind": "Workspace",
            "metadata": {"name": "smol-gone", "namespace": namespace, "uid": "e2e"},
            "resource": {
                "instanceType": "Standard_D4s_v5",
                "labelSelector": {"matchLabels": LABELS},
            },
            "inference": {"preset": {"name": "smollm2-135m-instruct"}},
        }
    )
    resolved = desired.resolve(ws, default_catalog(), settings)
    for manifest in desired.inference_objects(ws, resolved, settings, "1"):
        manifest["metadata"].pop("ownerReferences", None)
        control_plane.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))

    async def failed() -> PodFailure | None:
        pods = json.loads(
            control_plane.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout
        )["items"]
        failure = first_failure(pods)
        return failure if failure and failure.reason == "ModelWeightsPullFailed" else None

    failure = await async_wait_until(
        failed, timeout=300, interval=3, what="the weights downloader's failure"
    )
    assert f"{LOCAL_REGISTRY}/no-such-project/kaito-smollm2-135m-instruct" in failure.message
    assert "not found" in failure.message.lower(), failure.message
    control_plane.kubectl("delete", "deployment", "smol-gone", "-n", namespace, check=False)
