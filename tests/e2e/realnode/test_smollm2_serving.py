"""A SmolLM2 Workspace on a real node: real probes, weights pulled from the local registry,
answers through the Service's ClusterIP (kube-proxy), and kubectl logs/exec that work.

One Workspace is shared by the module (a node boot and a model load take a while); the
tests then look at it from every side a user would.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from kaito.testenv import ControlPlane
from tests.e2e.conftest import Operator
from tests.e2e.helpers import apply_workspace, sample, wait_ready
from tests.support.waiting import get_json, wait_until

NAME = "workspace-smollm2-135m-instruct"
READY_TIMEOUT = 540  # cold: node boot, image pulls, the model load; under pytest-timeout (600 s)


@pytest.fixture(scope="module")
def served(real_operator: Operator, control_plane: ControlPlane) -> Iterator[dict[str, Any]]:
    namespace = "realnode-smollm2"
    control_plane.kubectl("create", "namespace", namespace, check=False)
    apply_workspace(control_plane, sample(f"{NAME}.yaml"), namespace)
    ws = wait_ready(control_plane, NAME, namespace, timeout=READY_TIMEOUT)
    pods = get_json(control_plane, "pods", "-n", namespace, "-l", f"kaito.sh/workspace={NAME}")
    assert pods is not None
    svc = get_json(control_plane, "svc", NAME, "-n", namespace)
    assert svc is not None
    yield {"ws": ws, "namespace": namespace, "pod": pods["items"][0], "svc": svc}
    control_plane.kubectl("delete", "workspace", NAME, "-n", namespace, "--timeout=180s")
    control_plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def _post(url: str, body: dict[str, Any], timeout: float = 300) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        assert resp.status == 200
        data: dict[str, Any] = json.load(resp)
        return data


def _service_url(served: dict[str, Any]) -> str:
    return f"http://{served['svc']['spec']['clusterIP']}"


def _reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def test_the_pod_runs_on_a_real_node_and_became_ready_through_its_probes(
    served: dict[str, Any], control_plane: ControlPlane
) -> None:
    pod = served["pod"]
    node = get_json(control_plane, "node", pod["spec"]["nodeName"])
    assert node is not None
    assert node["metadata"]["labels"]["kaito.sh/local-instance"] == "true"
    assert "kwok.x-k8s.io/node" not in (node["metadata"].get("annotations") or {})
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://2.")
    assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.36.3"
    status = get_json(control_plane, "pod", pod["metadata"]["name"], "-n", served["namespace"])
    assert status is not None
    (main,) = status["status"]["containerStatuses"]
    assert main["ready"] is True and main["started"] is True
    assert main["state"]["running"]["startedAt"]
    (weights,) = status["status"]["initContainerStatuses"]
    assert weights["name"] == "model-weights-downloader"
    assert weights["state"]["terminated"]["exitCode"] == 0


def test_chat_answers_through_the_cluster_ip(served: dict[str, Any]) -> None:
    url = _service_url(served)
    wait_until(lambda: _reachable(url), timeout=60, what=f"{url}/health via kube-proxy")
    answer = _post(
        f"{url}/chat",
        {
            "messages": [
                {"role": "user", "content": "What is Kubernetes? Answer in one sentence."}
            ],
            "generate_kwargs": {"do_sample": False, "max_new_tokens": 40},
        },
    )
    text = answer["Result"]
    assert isinstance(text, str) and len(text.split()) >= 3, answer
    assert any(word in text.lower() for word in ("kubernetes", "container", "platform")), text


def test_the_official_openai_client_talks_to_the_service(served: dict[str, Any]) -> None:
    import openai

    url = _service_url(served)
    wait_until(lambda: _reachable(url), timeout=60, what=f"{url}/health via kube-proxy")
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", timeout=300)
    models = [m.id for m in client.models.list().data]
    assert "smollm2-135m-instruct" in models
    reply = client.chat.completions.create(
        model="smollm2-135m-instruct",
        messages=[{"role": "user", "content": "Name one planet of the solar system."}],
        max_tokens=20,
        temperature=0,
    )
    content = reply.choices[0].message.content or ""
    assert content.strip(), reply
    assert reply.usage is not None and reply.usage.completion_tokens > 0


def test_metrics_come_from_the_pod_through_the_service(served: dict[str, Any]) -> None:
    url = _service_url(served)
    wait_until(lambda: _reachable(url), timeout=60, what=f"{url}/health via kube-proxy")
    _post(f"{url}/chat", {"prompt": "Hello", "generate_kwargs": {"max_new_tokens": 4}})
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as resp:
        text = resp.read().decode()
    assert 'kaito_inference_requests_total{code="200",route="/chat"}' in text


def test_kubectl_logs_and_exec_reach_the_real_kubelet(
    served: dict[str, Any], control_plane: ControlPlane
) -> None:
    pod, namespace = served["pod"]["metadata"]["name"], served["namespace"]
    logs = control_plane.kubectl("logs", pod, "-n", namespace).stdout
    assert "Uvicorn running" in logs or "Application startup complete" in logs, logs[-2000:]
    pulled = control_plane.kubectl(
        "logs", pod, "-n", namespace, "-c", "model-weights-downloader"
    ).stdout
    assert "model.safetensors" in pulled or "Pulled" in pulled, pulled[-2000:]
    out = control_plane.kubectl(
        "exec",
        pod,
        "-n",
        namespace,
        "--",
        "python3",
        "-c",
        "import os; print(sorted(os.listdir('/workspace/weights')))",
    ).stdout
    assert "config.json" in out and "model.safetensors" in out, out
