"""Preset weights as an OCI artifact: push a model directory, find the tag, pull it back."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path
from types import ModuleType

import pytest

from kaito.presets import artifacts
from tests.support.tiny_model import build_tiny_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = build_tiny_model(tmp_path_factory.mktemp("weights") / "tiny")
    (path / ".kaito-complete.json").write_text("{}")  # hidden: never pushed
    return path


def _manifest(registry: str, repo: str, tag: str) -> dict[str, object]:
    request = urllib.request.Request(
        f"http://{registry}/v2/{repo}/manifests/{tag}",
        headers={"Accept": artifacts.MANIFEST_MEDIA_TYPE},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        found: dict[str, object] = json.loads(response.read())
        return found


def test_push_then_pull_gives_the_directory_back(
    model_dir: Path, oci_registry: str, tmp_path: Path
) -> None:
    reference = f"{oci_registry}/kaito/kaito-tiny:0.1.0"
    assert not artifacts.exists(reference, plain_http=True)
    digest = artifacts.push_model(
        model_dir, reference, model_name="tiny", metadata={"source": "test"}, plain_http=True
    )
    assert digest.startswith("sha256:")
    assert artifacts.exists(reference, plain_http=True)
    assert not artifacts.exists(f"{oci_registry}/kaito/kaito-tiny:9.9.9", plain_http=True)

    pulled = artifacts.pull_model(reference, tmp_path / "weights", plain_http=True)
    names = sorted(p.name for p in pulled)
    expected = sorted(p.name for p in model_dir.iterdir() if not p.name.startswith("."))
    assert names == expected
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(names)
    for name in names:
        assert (tmp_path / "weights" / name).read_bytes() == (model_dir / name).read_bytes()


def test_layout_is_what_the_oras_cli_pulls(model_dir: Path, oci_registry: str) -> None:
    """One layer per file titled with its name (oras pull -o DIR writes DIR/<title>)."""
    reference = f"{oci_registry}/kaito/kaito-layout:1"
    artifacts.push_model(model_dir, reference, model_name="tiny", plain_http=True)
    manifest = _manifest(oci_registry, "kaito/kaito-layout", "1")
    assert manifest["mediaType"] == artifacts.MANIFEST_MEDIA_TYPE
    layers = manifest["layers"]
    assert isinstance(layers, list)
    titles = [layer["annotations"][artifacts.TITLE_ANNOTATION] for layer in layers]
    assert titles == sorted(p.name for p in model_dir.iterdir() if not p.name.startswith("."))
    assert {layer["mediaType"] for layer in layers} == {artifacts.FILE_MEDIA_TYPE}
    config = manifest["config"]
    assert isinstance(config, dict) and config["mediaType"] == artifacts.CONFIG_MEDIA_TYPE
    assert manifest["annotations"] == {artifacts.MODEL_NAME_ANNOTATION: "tiny"}


def test_an_empty_directory_is_not_pushed(tmp_path: Path, oci_registry: str) -> None:
    with pytest.raises(FileNotFoundError, match="no files"):
        artifacts.push_model(tmp_path, f"{oci_registry}/kaito/empty:1", plain_http=True)


def test_publish_skips_a_tag_the_registry_has(
    smollm2: ModuleType, model_dir: Path, oci_registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = model_dir / smollm2.MARKER
    marker.write_text(json.dumps({"source": "test", "gguf_sha256": "0" * 64}))
    reference = f"{oci_registry}/kaito/kaito-smollm2-135m-instruct:0.1.0"
    assert smollm2.publish(model_dir, reference, plain_http=True) == reference
    first = _manifest(oci_registry, "kaito/kaito-smollm2-135m-instruct", "0.1.0")
    assert smollm2.publish(model_dir, reference, plain_http=True) == reference
    assert "already in the registry; not pushing" in capsys.readouterr().err
    assert _manifest(oci_registry, "kaito/kaito-smollm2-135m-instruct", "0.1.0") == first


@pytest.mark.parametrize(
    ("target", "reference"),
    [
        ("10.245.0.1:5000/kaito", "10.245.0.1:5000/kaito/kaito-smollm2-135m-instruct:0.1.0"),
        ("10.245.0.1:5000/", "10.245.0.1:5000/kaito-smollm2-135m-instruct:0.1.0"),
        ("10.245.0.1:5000", "10.245.0.1:5000/kaito-smollm2-135m-instruct:0.1.0"),
        (
            "r.example/x/kaito-smollm2-135m-instruct",
            "r.example/x/kaito-smollm2-135m-instruct:0.1.0",
        ),
        ("r.example/kaito-smollm2-135m-instruct:dev", "r.example/kaito-smollm2-135m-instruct:dev"),
    ],
)
def test_publish_target_becomes_a_reference(
    smollm2: ModuleType, target: str, reference: str
) -> None:
    assert smollm2.artifact_reference(target) == reference


@pytest.mark.skipif(shutil.which("oras") is None, reason="the oras CLI is not on PATH")
def test_the_oras_cli_pulls_the_directory_back(
    model_dir: Path, oci_registry: str, tmp_path: Path
) -> None:
    """What the pod's model-weights-downloader runs: oras pull REF -o DIR --plain-http."""
    reference = f"{oci_registry}/kaito/kaito-cli:1"
    artifacts.push_model(model_dir, reference, model_name="tiny", plain_http=True)
    out = tmp_path / "weights"
    subprocess.run(
        ["oras", "pull", reference, "-o", str(out), "--plain-http"], check=True, timeout=120
    )
    for path in model_dir.iterdir():
        if not path.name.startswith("."):
            assert (out / path.name).read_bytes() == path.read_bytes()
    assert not (out / ".kaito-complete.json").exists()
