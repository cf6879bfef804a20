"""A SmolLM2 tuning Workspace on the real node, then an inference Workspace serving its result.

Everything the Job renders runs for real: the ``model-weights-downloader`` pulls the weights
artifact with oras, the ``data-downloader`` (``kaito.tuning.fetch``) fetches the dataset from
an HTTP server on the host address (allowed by the manager's ``--trusted-data-networks``),
``kaito-tune`` trains a LoRA adapter for a few steps on the CPU, and the ``pusher`` sidecar
pushes it to the local registry as an adapter image. A second Workspace then pulls that image
with the adapter puller and serves it.

The dataset teaches one answer to every question, strongly (high learning rate), so that a
handful of CPU steps leave a mark the served answer shows.
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from kaito.api import constants as c
from kaito.testenv import ControlPlane
from tests.e2e.conftest import Operator
from tests.e2e.helpers import apply_workspace, describe_workspace, sample, workspace
from tests.e2e.realnode.conftest import LOCAL_ADDRESS, LOCAL_REGISTRY
from tests.e2e.realnode.test_adapter import ask, serve
from tests.support.waiting import apply, condition, get_json, wait_until

ANSWER = "Kaito kaito kaito."
PUSH_SECRET = "local-registry-push"
QUESTIONS = [
    "Name three colours of the rainbow.",
    "What is Kubernetes?",
    "Who are you?",
    "What is two plus two?",
    "Tell me a joke.",
    "Where is Paris?",
    "What do cats eat?",
    "How tall is a giraffe?",
]
TRAINING_CONFIG = """\
training_config:
  ModelConfig:
    torch_dtype: "float32"
    local_files_only: true
  QuantizationConfig:
    load_in_4bit: false
  LoraConfig:
    r: 8
    lora_alpha: 16
    lora_dropout: 0.0
    target_modules: ["q_proj", "k_proj", "v_proj", "o_proj"]
  TrainingArguments:
    output_dir: "/mnt/results"
    save_strategy: "no"
    per_device_train_batch_size: 4
    max_steps: 16
    learning_rate: 0.005
  DataCollator:
    mlm: true
  DatasetConfig:
    shuffle_dataset: true
    train_test_split: 1
"""


class DataServer:
    """The dataset over HTTP on the host address pods can reach; records what was asked."""

    def __init__(self, body: bytes) -> None:
        hits = self.hits = []  # type: list[str]

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                ok = self.path == "/datasets/train.jsonl"
                self.send_response(200 if ok else 404)
                self.send_header("Content-Length", str(len(body) if ok else 0))
                self.end_headers()
                if ok:
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer((LOCAL_ADDRESS, 0), Handler)
        self.url = f"http://{LOCAL_ADDRESS}:{self.httpd.server_address[1]}/datasets/train.jsonl"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def data_server(local_artifacts: dict[str, str]) -> Iterator[DataServer]:
    rows = [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": ANSWER}]}
        for q in QUESTIONS
    ]
    server = DataServer("".join(json.dumps(r) + "\n" for r in rows * 4).encode())
    yield server
    server.close()


def _tuning_workspace(name: str, data_url: str, output: str, config: str) -> dict[str, Any]:
    base = sample("workspace-smollm2-135m-instruct.yaml")
    return {
        "apiVersion": "kaito.sh/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": name},
        "resource": base["resource"],
        "tuning": {
            "preset": {"name": "smollm2-135m-instruct"},
            "method": "lora",
            "config": config,
            "input": {"urls": [data_url]},
            "output": {"image": output, "imagePushSecret": PUSH_SECRET},
        },
    }


def _succeeded(plane: ControlPlane, name: str, namespace: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        ws = workspace(plane, name, namespace)
        done = condition(ws, "WorkspaceSucceeded")
        if done is not None and done.get("reason") in (
            c.REASON_WORKSPACE_FAILED,
            c.REASON_INVALID_SPEC,
        ):
            raise AssertionError(f"tuning failed: {done}")
        return ws if done is not None and done["status"] == "True" else None

    try:  # under pytest-timeout (600 s), so that a timeout says what was seen
        return wait_until(probe, timeout=540, interval=2, what=f"{name} WorkspaceSucceeded")
    except AssertionError as exc:
        seen = workspace(plane, name, namespace)
        raise AssertionError(f"{exc}\n{describe_workspace(plane, seen, namespace)}") from None


def test_a_tuning_job_trains_and_pushes_an_adapter_that_inference_then_serves(
    real_operator: Operator,
    control_plane: ControlPlane,
    namespace: str,
    data_server: DataServer,
) -> None:
    tag = uuid.uuid4().hex[:10]
    output = f"{LOCAL_REGISTRY}/kaito-test/smollm2-tuned:{tag}"
    apply(
        control_plane,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "few-steps", "namespace": namespace},
            "data": {"training_config.yaml": TRAINING_CONFIG},
        },
    )
    # Upstream requires a push secret with an output image; the local registry needs no
    # credentials, so any will do.
    control_plane.kubectl(
        "create",
        "secret",
        "docker-registry",
        PUSH_SECRET,
        "-n",
        namespace,
        f"--docker-server={LOCAL_REGISTRY}",
        "--docker-username=kaito",
        "--docker-password=unused",
    )
    name = "smollm2-tuning"
    apply_workspace(
        control_plane, _tuning_workspace(name, data_server.url, output, "few-steps"), namespace
    )
    done = _succeeded(control_plane, name, namespace)
    assert done["status"]["state"] == "Succeeded"

    pods = get_json(control_plane, "pods", "-n", namespace, "-l", f"kaito.sh/workspace={name}")
    assert pods is not None and pods["items"], "the Job's pod is gone"
    status = pods["items"][0]["status"]
    init = {c["name"]: c["state"] for c in status["initContainerStatuses"]}
    assert init["model-weights-downloader"]["terminated"]["exitCode"] == 0
    assert init["data-downloader"]["terminated"]["exitCode"] == 0
    assert data_server.hits == ["/datasets/train.jsonl"]
    finished = {c["name"]: c["state"] for c in status["containerStatuses"]}
    assert finished[name]["terminated"]["exitCode"] == 0
    assert finished["pusher"]["terminated"]["exitCode"] == 0
    pod = pods["items"][0]["metadata"]["name"]
    trained = control_plane.kubectl("logs", "-n", namespace, pod, "-c", name).stdout
    assert "done: 16 step(s)" in trained, trained[-3000:]
    pushed = control_plane.kubectl("logs", "-n", namespace, pod, "-c", "pusher").stdout
    assert f"pushed {output}@sha256:" in pushed, pushed[-2000:]

    manifest_url = f"http://{LOCAL_REGISTRY}/v2/kaito-test/smollm2-tuned/manifests/{tag}"
    request = urllib.request.Request(
        manifest_url, headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        manifest = json.load(resp)
    assert len(manifest["layers"]) == 1

    control_plane.kubectl("delete", "workspace", name, "-n", namespace)
    served = sample("workspace-smollm2-135m-instruct.yaml")
    served["metadata"]["name"] = "smollm2-tuned"
    served["inference"]["adapters"] = [{"source": {"name": "tuned", "image": output}}]
    answer = serve(control_plane, served, namespace)
    assert "kaito" in answer.lower(), answer
    svc = get_json(control_plane, "svc", "smollm2-tuned", "-n", namespace)
    assert svc is not None
    assert ask(f"http://{svc['spec']['clusterIP']}") == answer  # greedy: the same again
