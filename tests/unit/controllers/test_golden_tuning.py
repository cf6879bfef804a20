"""Golden files for the tuning Job (urls -> image, volume -> volume) and its config."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from kaito.api import constants as c
from kaito.api.wire import workspace_from_dict
from kaito.controllers import desired
from kaito.controllers.settings import Settings
from kaito.presets import default_catalog
from kaito.render import dump_documents

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
SETTINGS = Settings(runtime_contract=c.CONTRACT_KAITO)
"""kaito's own Job (upstream's is pinned by tests/unit/controllers/test_upstream_tuning.py)."""


def _workspace(
    name: str, tuning_spec: dict[str, Any], instance_type: str = "Standard_NC6s_v3"
) -> Any:
    return workspace_from_dict(
        {
            "apiVersion": "kaito.sh/v1alpha1",
            "kind": "Workspace",
            "metadata": {"name": name, "namespace": "default", "uid": "u-1"},
            "resource": {
                "instanceType": instance_type,
                "labelSelector": {"matchLabels": {"app": name}},
            },
            "tuning": tuning_spec,
        }
    )


CASES = {
    "urls-to-image": _workspace(
        "workspace-tuning-phi-3-mini",
        {
            "preset": {"name": "phi-3-mini-4k-instruct"},
            "method": "qlora",
            "input": {
                "urls": [
                    "https://huggingface.co/datasets/philschmid/dolly-15k-oai-style/resolve/main/"
                    "data/train-00000-of-00001-54e3756291ca09c6.parquet?download=true"
                ]
            },
            "output": {
                "image": "myregistry.azurecr.io/adapters/phi-3-dolly:0.0.1",
                "imagePushSecret": "acr-push",
            },
        },
    ),
    "volume-to-volume": _workspace(
        "workspace-tuning-volumes",
        {
            "preset": {"name": "phi-3-mini-128k-instruct"},
            "method": "lora",
            "config": "my-training-config",
            "input": {"volumeSource": {"persistentVolumeClaim": {"claimName": "datasets"}}},
            "output": {"volumeSource": {"persistentVolumeClaim": {"claimName": "adapters"}}},
        },
    ),
    "cpu-smollm2": _workspace(
        "workspace-tuning-smollm2",
        {
            "preset": {"name": "smollm2-135m-instruct"},
            "method": "lora",
            "input": {"urls": ["https://example.com/data/train.parquet"]},
            "output": {"volumeSource": {"emptyDir": {}}},
        },
        instance_type="Standard_D4s_v5",
    ),
}


def render_case(ws: Any) -> list[dict[str, Any]]:
    """What the reconciler and ``kaito render`` make of ``ws`` (kaito's contract)."""
    resolved = desired.resolve(ws, default_catalog(), SETTINGS)
    return desired.tuning_objects(ws, resolved, SETTINGS, revision="1")


@pytest.mark.parametrize("case", sorted(CASES))
def test_tuning_manifests_match_golden(case: str) -> None:
    text = dump_documents(render_case(CASES[case]))
    path = GOLDEN / f"tuning-{case}.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"{path} missing; run with UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text()


def test_urls_input_downloads_and_image_output_pushes() -> None:
    configmap, job = render_case(CASES["urls-to-image"])
    assert "load_in_4bit: true" in configmap["data"]["training_config.yaml"]
    pod = job["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["data-downloader"]
    downloader = pod["initContainers"][0]
    assert downloader["command"][:4] == ["python3", "-m", "kaito.tuning.fetch", "--dest=/mnt/data"]
    assert "train-00000-of-00001" in downloader["env"][0]["value"]
    assert downloader["image"] == SETTINGS.tuning_image  # our downloader, never curl -L
    assert [c["name"] for c in pod["containers"]] == ["workspace-tuning-phi-3-mini", "pusher"]
    assert "--method=qlora" in pod["containers"][0]["command"]
    assert (
        "--image=myregistry.azurecr.io/adapters/phi-3-dolly:0.0.1"
        in pod["containers"][1]["command"]
    )
    secrets = {v["name"]: v for v in pod["volumes"]}
    assert secrets["push-docker-config"]["secret"]["secretName"] == "acr-push"
    assert "--docker-config=/root/.docker/config.json" in pod["containers"][1]["command"]
    assert pod["restartPolicy"] == "Never"


def test_volume_input_and_output_mount_the_users_volumes() -> None:
    (job,) = render_case(CASES["volume-to-volume"])
    pod = job["spec"]["template"]["spec"]
    assert "initContainers" not in pod
    assert [c["name"] for c in pod["containers"]] == ["workspace-tuning-volumes"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["data-volume"]["persistentVolumeClaim"] == {"claimName": "datasets"}
    assert volumes["results-volume"]["persistentVolumeClaim"] == {"claimName": "adapters"}
    assert volumes["config-volume"]["configMap"]["name"] == "my-training-config"


def test_cpu_preset_tunes_on_cpu_with_the_weights_artifact() -> None:
    _, job = render_case(CASES["cpu-smollm2"])
    pod = job["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == [
        "model-weights-downloader",
        "data-downloader",
    ]
    assert pod["initContainers"][0]["command"][:3] == [
        "oras",
        "pull",
        "mcr.microsoft.com/aks/kaito/kaito-smollm2-135m-instruct:0.1.0",
    ]
    (container,) = pod["containers"]
    assert container["image"] == SETTINGS.tuning_image
    assert container["resources"] == {"requests": {"cpu": "1", "memory": "4Gi"}}
    assert "--method=lora" in container["command"]
    mount = {"name": "model-weights-volume", "mountPath": "/workspace/weights"}
    assert mount in container["volumeMounts"]
    assert {"name": "model-weights-volume", "emptyDir": {}} in pod["volumes"]
