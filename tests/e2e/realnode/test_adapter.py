"""A SmolLM2 Workspace with a LoRA adapter: the puller init container really pulls the adapter
image (skopeo, from the local registry) and the server merges it with its strength, so the
answer differs from the base model's.

The adapter is made here with PEFT (random, non-zero LoRA weights on SmolLM2's attention
projections) and published as an image with the files under ``/data``, as upstream expects
adapter images to be laid out.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from kaito.testenv import ControlPlane
from tests.e2e.conftest import Operator
from tests.e2e.helpers import apply_workspace, sample, wait_ready
from tests.e2e.realnode.conftest import LOCAL_REGISTRY
from tests.support.waiting import get_json, wait_until

PROMPT = "Name three colours of the rainbow."


def make_adapter(model_dir: Path, out: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(7)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    config = LoraConfig(
        r=8, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    get_peft_model(model, config).save_pretrained(out)
    for path in out.iterdir():  # as a user would publish it: safetensors writes 0600
        path.chmod(0o600)


def publish_adapter(directory: Path, ref: str, work: Path) -> None:
    buildah = [
        "buildah",
        f"--root={work / 'root'}",
        f"--runroot={work / 'run'}",
        "--storage-driver=vfs",
    ]

    def run(*args: str) -> str:
        proc = subprocess.run([*buildah, *args], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, f"buildah {' '.join(args)}: {proc.stderr}"
        return proc.stdout.strip()

    container = run("from", "scratch")
    run("copy", container, str(directory), "/data")
    run("commit", "--quiet", container, ref)
    run("push", "--tls-verify=false", ref, f"docker://{ref}")


@pytest.fixture(scope="module")
def adapter_image(tmp_path_factory: pytest.TempPathFactory, local_artifacts: dict[str, str]) -> str:
    model_dir = Path.home() / ".cache" / "kaito" / "models" / "smollm2-135m-instruct"
    work = tmp_path_factory.mktemp("adapter")
    make_adapter(model_dir, work / "adapter")
    digest = hashlib.sha256()
    for path in sorted((work / "adapter").iterdir()):
        digest.update(path.read_bytes())
    ref = f"{LOCAL_REGISTRY}/kaito-test/smollm2-lora:{digest.hexdigest()[:12]}"
    publish_adapter(work / "adapter", ref, work)
    return ref


def ask(url: str) -> str:
    body = {
        "messages": [{"role": "user", "content": PROMPT}],
        "generate_kwargs": {"do_sample": False, "max_new_tokens": 24},
    }
    request = urllib.request.Request(
        f"{url}/chat",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=300) as resp:
        answer: dict[str, Any] = json.load(resp)
    return str(answer["Result"])


def serve(plane: ControlPlane, ws: dict[str, Any], namespace: str) -> str:
    name = ws["metadata"]["name"]
    apply_workspace(plane, ws, namespace)
    wait_ready(plane, name, namespace, timeout=540)
    svc = get_json(plane, "svc", name, "-n", namespace)
    assert svc is not None
    url = f"http://{svc['spec']['clusterIP']}"

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    wait_until(healthy, timeout=60, what=f"{url}/health")
    return ask(url)


def test_an_adapter_image_is_pulled_by_the_real_puller_and_changes_the_answer(
    real_operator: Operator,
    control_plane: ControlPlane,
    namespace: str,
    adapter_image: str,
) -> None:
    base = sample("workspace-smollm2-135m-instruct.yaml")
    base_answer = serve(control_plane, base, namespace)
    control_plane.kubectl("delete", "workspace", base["metadata"]["name"], "-n", namespace)

    adapted = sample("workspace-smollm2-135m-instruct.yaml")
    adapted["metadata"]["name"] = "smollm2-with-adapter"
    adapted["inference"]["adapters"] = [
        {"source": {"name": "rainbow", "image": adapter_image}, "strength": "0.8"}
    ]
    adapted_answer = serve(control_plane, adapted, namespace)

    pod = get_json(
        control_plane, "pods", "-n", namespace, "-l", "kaito.sh/workspace=smollm2-with-adapter"
    )
    assert pod is not None
    init = {c["name"]: c for c in pod["items"][0]["status"]["initContainerStatuses"]}
    assert init["puller-rainbow"]["state"]["terminated"]["exitCode"] == 0
    env = {
        e["name"]: e.get("value") for e in pod["items"][0]["spec"]["containers"][0].get("env", [])
    }
    assert env.get("rainbow") == "0.8"
    logs = control_plane.kubectl(
        "logs", "-n", namespace, pod["items"][0]["metadata"]["name"]
    ).stdout
    assert "rainbow=0.8" in logs, logs[-3000:]
    assert adapted_answer != base_answer, (base_answer, adapted_answer)
