"""Preset weights as OCI artifacts: push a model directory, check a tag, pull it back.

An artifact preset's weights live at ``<preset registry>/kaito-<preset>:<tag>`` as one
layer per file of the model directory (``config.json``, ``model.safetensors``, the tokenizer
files ...), each titled with its file name (``org.opencontainers.image.title``), the layout
the ``oras`` CLI writes and reads: in the pod, the ``model-weights-downloader`` init container
runs ``oras pull <ref> -o /workspace/weights`` and gets the directory back as it was.

This module uses the ``oras`` Python package (the ``runtime`` extra), imported when called,
so that the operator, which only names the reference, does not need it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

FILE_MEDIA_TYPE: Final = "application/vnd.oci.image.layer.v1.tar"
"""Media type of each file layer (what ``oras push`` gives a file without a type)."""
CONFIG_MEDIA_TYPE: Final = "application/vnd.kaito.model.config.v1+json"
"""Media type of the artifact's config: a JSON object describing the model."""
MODEL_NAME_ANNOTATION: Final = "sh.kaito.model.name"
TITLE_ANNOTATION: Final = "org.opencontainers.image.title"
MANIFEST_MEDIA_TYPE: Final = "application/vnd.oci.image.manifest.v1+json"


def model_files(model_dir: Path) -> list[Path]:
    """The files an artifact of ``model_dir`` holds: its regular, non-hidden files, sorted.

    Sub-directories are not pushed (a Hugging Face model directory has none); the file
    names become the layer titles, so they must be unique at the top level.
    """
    files = sorted(p for p in model_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise FileNotFoundError(f"{model_dir} holds no files to push")
    return files


def _registry(plain_http: bool) -> Any:
    import oras.provider

    return oras.provider.Registry(insecure=plain_http)


def _configs(docker_config: Path | None) -> str | None:
    if docker_config is not None:
        return str(docker_config)
    if os.environ.get("DOCKER_CONFIG"):
        return str(Path(os.environ["DOCKER_CONFIG"]) / "config.json")
    return None


def push_model(
    model_dir: Path,
    reference: str,
    *,
    model_name: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    plain_http: bool = False,
    docker_config: Path | None = None,
) -> str:
    """Push the files of ``model_dir`` as the artifact ``reference``; return its digest.

    ``model_name`` (the preset) becomes the ``sh.kaito.model.name`` annotation; ``metadata``
    is written into the artifact's config blob. Credentials as for the ``oras`` CLI.
    """
    files = model_files(model_dir)
    registry = _registry(plain_http)
    config = {"files": [p.name for p in files], **(metadata or {})}
    if model_name:
        config["model"] = model_name
    with tempfile.TemporaryDirectory(prefix="kaito-artifact-") as work:
        config_path = Path(work) / "config.json"
        config_path.write_text(json.dumps(config, sort_keys=True, separators=(",", ":")))
        response = registry.push(
            target=reference,
            config_path=_configs(docker_config),
            files=[f"{p}:{FILE_MEDIA_TYPE}" for p in files],
            manifest_config=f"{config_path}:{CONFIG_MEDIA_TYPE}",
            manifest_annotations={MODEL_NAME_ANNOTATION: model_name} if model_name else None,
            disable_path_validation=True,
            quiet=True,
        )
    digest: str = response.headers.get("Docker-Content-Digest", "")
    return digest


def manifest(
    reference: str, *, plain_http: bool = False, docker_config: Path | None = None
) -> dict[str, Any] | None:
    """The manifest of ``reference``, or None when the registry has no such tag."""
    registry = _registry(plain_http)
    container = registry.get_container(reference)
    registry.auth.load_configs(container, configs=[c] if (c := _configs(docker_config)) else None)
    url = f"{registry.prefix}://{container.manifest_url()}"
    response = registry.do_request(url, "GET", headers={"Accept": MANIFEST_MEDIA_TYPE})
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise RuntimeError(f"GET {url}: {response.status_code} {response.reason}")
    found: dict[str, Any] = response.json()
    return found


def exists(reference: str, *, plain_http: bool = False, docker_config: Path | None = None) -> bool:
    """Whether the registry already has ``reference`` (a tag or digest)."""
    return manifest(reference, plain_http=plain_http, docker_config=docker_config) is not None


def pull_model(
    reference: str,
    out_dir: Path,
    *,
    plain_http: bool = False,
    docker_config: Path | None = None,
) -> Sequence[Path]:
    """Pull the artifact ``reference`` into ``out_dir`` (what ``oras pull -o`` does)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    registry = _registry(plain_http)
    pulled = registry.pull(
        target=reference, config_path=_configs(docker_config), outdir=str(out_dir)
    )
    return [Path(p) for p in pulled]
