"""Every preset under every runtime contract starts a program its image really has.

``kaito``: the console scripts ``pyproject.toml`` declares, which ``docker/inference.Dockerfile``
installs (``pip install .``). ``upstream``: the entry points upstream v0.12's ``kaito-base``
image was seen running (``tests/data/upstream-rendered``). Also: admission refuses what a
contract cannot do, in words that say what to do instead.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from kaito.api import constants as c
from kaito.api import workspace_from_dict
from kaito.api.validation import validate_create
from kaito.controllers import desired
from kaito.controllers.settings import Settings
from kaito.presets import default_catalog

REPO = Path(__file__).resolve().parents[3]
CATALOG = default_catalog()
SCRIPTS = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"])
DOCKERFILE = (REPO / "docker" / "inference.Dockerfile").read_text()


def _upstream_programs() -> set[str]:
    """The program paths upstream's own containers started (first words of their scripts)."""
    found: set[str] = set()
    for path in (REPO / "tests" / "data" / "upstream-rendered").glob("0[1-5]*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "StatefulSet":
                continue
            for container in doc["spec"]["template"]["spec"]["containers"]:
                script = container["command"][2]
                words = script.replace(";", " ; ").split()
                found |= {w for w in words if w.startswith("/workspace/")}
    return found


UPSTREAM_PROGRAMS = _upstream_programs()


def _workspace(preset: str, sku: str, annotations: dict[str, str]) -> Any:
    return workspace_from_dict(
        {
            "apiVersion": "kaito.sh/v1beta1",
            "kind": "Workspace",
            "metadata": {"name": "ws", "namespace": "ns", "uid": "u", "annotations": annotations},
            "resource": {"instanceType": sku, "labelSelector": {"matchLabels": {"a": "b"}}},
            "inference": {"preset": {"name": preset}},
        }
    )


def _sku_for(preset: Any) -> str:
    if preset.cpu_only:
        return "Standard_D4s_v5"
    for sku in ("Standard_NC24ads_A100_v4", "Standard_NC48ads_A100_v4", "Standard_NC96ads_A100_v4"):
        config = CATALOG.sku(sku)
        if config is not None and config.gpu_memory >= preset.total_gpu_memory:
            return sku
    return "Standard_ND96amsr_A100_v4"


def _cases() -> list[tuple[str, str, str]]:
    out = []
    for preset in CATALOG.inference_presets():
        if preset.deprecated:
            continue
        for runtime in c.RUNTIMES:
            out.append((preset.name, c.CONTRACT_KAITO, runtime))
            if runtime in preset.upstream_runtimes:
                out.append((preset.name, c.CONTRACT_UPSTREAM, runtime))
    return out


def test_the_upstream_entry_points_were_seen() -> None:
    assert {"/workspace/vllm/inference_api.py", "/workspace/tfs/inference_api.py"} <= (
        UPSTREAM_PROGRAMS
    )
    assert "/workspace/vllm/multi-node-serving.sh" in UPSTREAM_PROGRAMS


@pytest.mark.parametrize(("preset_name", "contract", "runtime"), _cases())
def test_every_preset_starts_a_program_its_image_has(
    preset_name: str, contract: str, runtime: str
) -> None:
    preset = CATALOG.inference_preset(preset_name)
    assert preset is not None
    ws = _workspace(preset_name, _sku_for(preset), {c.ANNOTATION_RUNTIME: runtime})
    settings = Settings(runtime_contract=contract, inference_image="registry.example/kaito:1")
    resolved = desired.resolve(ws, CATALOG, settings)
    assert (resolved.contract, resolved.runtime) == (contract, runtime)
    (workload,) = [
        o
        for o in desired.inference_objects(ws, resolved, settings, "1")
        if o["kind"] in ("Deployment", "StatefulSet")
    ]
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    if contract == c.CONTRACT_KAITO:
        assert container["image"] == "registry.example/kaito:1"
        assert container["command"][0] in SCRIPTS
        assert "pip install --no-deps ." in DOCKERFILE
        assert f"--engine={runtime}" in container["command"]
    else:
        assert container["image"] == "mcr.microsoft.com/aks/kaito/kaito-base:0.5.0"
        assert container["command"][:2] == ["/bin/sh", "-c"]
        words = container["command"][2].replace(";", " ; ").split()
        programs = {w for w in words if w.startswith("/workspace/")}
        assert programs and programs <= UPSTREAM_PROGRAMS


def _errors(preset: str, sku: str, **annotations: str) -> list[str]:
    ws = _workspace(preset, sku, annotations)
    return validate_create(ws, catalog=CATALOG, cloud="azure").errors


def test_an_unknown_contract_is_refused_with_the_choices() -> None:
    (error,) = _errors(
        "phi-3-mini-4k-instruct",
        "Standard_NC24ads_A100_v4",
        **{c.ANNOTATION_RUNTIME_CONTRACT: "kaitoo"},
    )
    assert error == (
        'invalid value: "kaitoo" is not a valid runtime contract; choose one of: upstream, '
        f"kaito: metadata.annotations[{c.ANNOTATION_RUNTIME_CONTRACT}]"
    )


def test_upstream_cannot_serve_kaitos_own_cpu_preset() -> None:
    (error,) = _errors(
        "smollm2-135m-instruct", "Standard_D4s_v5", **{c.ANNOTATION_RUNTIME_CONTRACT: "upstream"}
    )
    assert "preset smollm2-135m-instruct is kaito's own" in error
    assert f"use {c.ANNOTATION_RUNTIME_CONTRACT}: kaito" in error
    # without the annotation the CPU preset simply runs kaito's image
    assert _errors("smollm2-135m-instruct", "Standard_D4s_v5") == []


def test_upstream_refuses_a_runtime_its_image_lacks_for_the_preset() -> None:
    (error,) = _errors(
        "phi-4-mini-instruct", "Standard_NC24ads_A100_v4", **{c.ANNOTATION_RUNTIME: "transformers"}
    )
    assert "does not serve preset phi-4-mini-instruct with the transformers runtime" in error
    assert (
        _errors(
            "phi-4-mini-instruct",
            "Standard_NC24ads_A100_v4",
            **{c.ANNOTATION_RUNTIME: "transformers", c.ANNOTATION_RUNTIME_CONTRACT: "kaito"},
        )
        == []
    )


def _kaito_pod(preset: str, sku: str, **annotations: str) -> dict[str, Any]:
    ws = _workspace(preset, sku, annotations)
    settings = Settings(runtime_contract="kaito", preset_registry="registry.example/kaito")
    resolved = desired.resolve(ws, CATALOG, settings)
    (workload,) = [
        o
        for o in desired.inference_objects(ws, resolved, settings, "1")
        if o["kind"] in ("Deployment", "StatefulSet")
    ]
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def test_weights_source_artifact_pulls_the_published_artifact_instead_of_downloading() -> None:
    pod = _kaito_pod(
        "phi-3-mini-4k-instruct",
        "Standard_NC24ads_A100_v4",
        **{c.ANNOTATION_WEIGHTS_SOURCE: "artifact"},
    )
    (puller,) = pod["initContainers"]
    assert puller["name"] == "model-weights-downloader"
    assert puller["command"][:3] == [
        "oras",
        "pull",
        "registry.example/kaito/kaito-phi-3-mini-4k-instruct:0.2.0",
    ]
    command = pod["containers"][0]["command"]
    assert "--model=/workspace/weights" in command
    assert not any(arg.startswith("--download-dir") for arg in command)
    # by default the same preset downloads from HuggingFace at start
    default = _kaito_pod("phi-3-mini-4k-instruct", "Standard_NC24ads_A100_v4")
    assert "initContainers" not in default
    assert "--download-dir=/workspace/weights" in default["containers"][0]["command"]


def test_weights_source_download_makes_the_cpu_preset_fetch_from_the_hub() -> None:
    pod = _kaito_pod(
        "smollm2-135m-instruct", "Standard_D4s_v5", **{c.ANNOTATION_WEIGHTS_SOURCE: "download"}
    )
    assert "initContainers" not in pod
    assert "--allow-remote-files" in pod["containers"][0]["command"]


@pytest.mark.parametrize(
    ("preset", "annotations", "words"),
    [
        ("phi-3-mini-4k-instruct", {c.ANNOTATION_WEIGHTS_SOURCE: "s3"}, '"s3" is not a valid'),
        (
            "phi-3-mini-4k-instruct",
            {c.ANNOTATION_WEIGHTS_SOURCE: "artifact"},
            "upstream's image downloads the weights itself",
        ),
        (
            "llama-3.1-8b-instruct",
            {c.ANNOTATION_WEIGHTS_SOURCE: "artifact", c.ANNOTATION_RUNTIME_CONTRACT: "kaito"},
            "no weights artifact is published for preset llama-3.1-8b-instruct",
        ),
    ],
)
def test_a_weights_source_the_preset_lacks_is_refused(
    preset: str, annotations: dict[str, str], words: str
) -> None:
    (error,) = _errors(preset, "Standard_NC24ads_A100_v4", **annotations)
    assert words in error
