"""The OCI image the pusher builds from an adapter directory: one layer holding ``data/``.

Upstream's ``pusher.sh`` copies ``adapter_config.json`` and ``adapter_model.safetensors`` into
``data/``, tars and gzips that directory into one ``application/vnd.oci.image.layer.v1.tar+gzip``
layer, writes the config ``{"rootfs":{"diff_ids":["sha256:<digest of the tar>"]}}``
(``application/vnd.oci.image.config.v1+json``) and annotates the manifest with
``sh.kaito.model.name``. Unpacking that image's layers gives ``/data/adapter_config.json``, which
is exactly what an inference Workspace's adapter puller extracts.

The layer is reproducible: entries are sorted, owned by root, with mtime 0, and the gzip header
carries no name or time, so the same adapter always has the same digest.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

import attrs

from kaito.tuning import ADAPTER_FILES

LAYER_MEDIA_TYPE: Final = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG_MEDIA_TYPE: Final = "application/vnd.oci.image.config.v1+json"
MANIFEST_MEDIA_TYPE: Final = "application/vnd.oci.image.manifest.v1+json"
MODEL_NAME_ANNOTATION: Final = "sh.kaito.model.name"
DATA_DIR: Final = "data"
"""Directory inside the image that holds the adapter (``/data``)."""


@attrs.frozen
class AdapterImage:
    """The blobs of an adapter image, written to disk, ready to push."""

    layer: Path
    """The gzipped tar layer."""
    layer_digest: str
    """``sha256:`` digest of the compressed layer (its blob digest)."""
    diff_id: str
    """``sha256:`` digest of the uncompressed tar (the config's ``rootfs.diff_ids``)."""
    config: Path
    """The image config JSON."""
    annotations: Mapping[str, str]
    """Manifest annotations."""
    files: Sequence[str]
    """Paths inside the image, e.g. ``data/adapter_config.json``."""


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _tar(adapter_dir: Path, names: Sequence[str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        directory = tarfile.TarInfo(DATA_DIR)
        directory.type, directory.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(directory)
        for name in sorted(names):
            data = (adapter_dir / name).read_bytes()
            info = tarfile.TarInfo(f"{DATA_DIR}/{name}")
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def build_adapter_image(
    adapter_dir: Path,
    work_dir: Path,
    *,
    model_name: str | None = None,
    annotations: Mapping[str, str] | None = None,
    files: Sequence[str] = ADAPTER_FILES,
) -> AdapterImage:
    """Write the layer and config for the adapter in ``adapter_dir`` into ``work_dir``.

    ``model_name`` (the preset) becomes the ``sh.kaito.model.name`` annotation; ``annotations``
    are added as they are. Raises ``FileNotFoundError`` naming a missing adapter file.
    """
    for name in files:
        if not (adapter_dir / name).is_file():
            raise FileNotFoundError(f"{adapter_dir / name} does not exist")
    tar = _tar(adapter_dir, files)
    layer_bytes = gzip.compress(tar, compresslevel=9, mtime=0)
    work_dir.mkdir(parents=True, exist_ok=True)
    layer = work_dir / "layer.tar.gz"
    layer.write_bytes(layer_bytes)
    diff_id = _digest(tar)
    config = work_dir / "config.json"
    config.write_bytes(
        json.dumps({"rootfs": {"diff_ids": [diff_id]}}, separators=(",", ":")).encode()
    )
    merged = dict(annotations or {})
    if model_name:
        merged[MODEL_NAME_ANNOTATION] = model_name
    return AdapterImage(
        layer=layer,
        layer_digest=_digest(layer_bytes),
        diff_id=diff_id,
        config=config,
        annotations=merged,
        files=[f"{DATA_DIR}/{name}" for name in sorted(files)],
    )
