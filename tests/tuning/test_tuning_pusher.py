"""The pusher: the image it builds, how it waits, and a real push to a local OCI registry.

The registry is the CNCF distribution registry built from hack/registry and run on
127.0.0.1 with in-memory storage; the test reads the pushed manifest, config and layer back
over the registry API.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from kaito.tuning import ADAPTER_FILES, COMPLETION_MARKER, FAILURE_MARKER
from kaito.tuning.oci import (
    CONFIG_MEDIA_TYPE,
    LAYER_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    build_adapter_image,
)
from kaito.tuning.pusher import MarkerTimeout, SignalStop, wait_for_marker
from tests.tuning.conftest import TuneRun


def _adapter(tmp_path: Path) -> Path:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"peft_type": "LORA"}')
    (adapter / "adapter_model.safetensors").write_bytes(b"\x00\x01weights")
    (adapter / "README.md").write_text("not pushed")
    return adapter


def _members(layer: bytes) -> dict[str, bytes | None]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as tar:
        return {
            m.name: (tar.extractfile(m).read() if m.isfile() else None)  # type: ignore[union-attr]
            for m in tar.getmembers()
        }


def test_image_layout_matches_upstream_pusher(tmp_path: Path) -> None:
    adapter = _adapter(tmp_path)
    image = build_adapter_image(adapter, tmp_path / "w", model_name="phi-3-mini-4k-instruct")
    layer = image.layer.read_bytes()
    assert image.layer_digest == "sha256:" + hashlib.sha256(layer).hexdigest()
    assert image.diff_id == "sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest()
    assert json.loads(image.config.read_text()) == {"rootfs": {"diff_ids": [image.diff_id]}}
    assert image.annotations == {"sh.kaito.model.name": "phi-3-mini-4k-instruct"}
    assert _members(layer) == {
        "data": None,
        "data/adapter_config.json": b'{"peft_type": "LORA"}',
        "data/adapter_model.safetensors": b"\x00\x01weights",
    }
    assert image.files == ["data/adapter_config.json", "data/adapter_model.safetensors"]


def test_image_is_reproducible(tmp_path: Path) -> None:
    adapter = _adapter(tmp_path)
    first = build_adapter_image(adapter, tmp_path / "a")
    time.sleep(1.1)  # a timestamp anywhere would now differ
    (adapter / "adapter_config.json").touch()
    second = build_adapter_image(adapter, tmp_path / "b")
    assert first.layer_digest == second.layer_digest
    assert first.config.read_bytes() == second.config.read_bytes()


def test_missing_adapter_file_is_named(tmp_path: Path) -> None:
    adapter = _adapter(tmp_path)
    (adapter / "adapter_model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"adapter_model\.safetensors does not exist"):
        build_adapter_image(adapter, tmp_path / "w")


def test_wait_for_marker(tmp_path: Path) -> None:
    marker = tmp_path / COMPLETION_MARKER
    with pytest.raises(MarkerTimeout, match=r"did not appear within 0\.05 s"):
        wait_for_marker(marker, poll_interval=0.01, timeout=0.05)
    stop = threading.Event()
    stop.set()
    with pytest.raises(MarkerTimeout, match="stopped before"):
        wait_for_marker(marker, poll_interval=0.01, stop=stop)
    threading.Timer(0.05, marker.write_text, args=("done",)).start()
    wait_for_marker(marker, poll_interval=0.01, timeout=10)
    assert marker.exists()
    wait_for_marker(marker, stop=stop)  # present already: returns even when stopped


def test_a_signal_handler_stops_the_wait(tmp_path: Path) -> None:
    # the pusher's own arrangement: the handler runs on the thread that is waiting
    stop = SignalStop()
    previous = signal.signal(signal.SIGALRM, lambda *_: stop.set())
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        with pytest.raises(MarkerTimeout, match="stopped before"):
            wait_for_marker(
                tmp_path / COMPLETION_MARKER, poll_interval=0.001, timeout=30, stop=stop
            )
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_failure_marker_ends_the_wait(tmp_path: Path) -> None:
    failed = tmp_path / FAILURE_MARKER
    threading.Timer(0.05, failed.write_text, args=("QLoRA needs a CUDA GPU\n",)).start()
    with pytest.raises(MarkerTimeout, match=r"kaito-tune failed \(QLoRA needs a CUDA GPU\)"):
        wait_for_marker(tmp_path / COMPLETION_MARKER, failure=failed, poll_interval=0.01)


def _pusher(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kaito.tuning.pusher", "--poll-interval", "0.05", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _read_until(proc: subprocess.Popen[str], text: str) -> str:
    """``proc``'s output up to and including the first line containing ``text``."""
    assert proc.stdout is not None
    lines: list[str] = []
    while not lines or text not in lines[-1]:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"the pusher exited before logging {text!r}: {''.join(lines)}")
        lines.append(line)
    return "".join(lines)


def _get(url: str, accept: str | None = None) -> bytes:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        data: bytes = response.read()
        return data


def test_push_to_a_real_registry_after_the_marker(
    oci_registry: str, kaito_tune_run: TuneRun, tmp_path: Path
) -> None:
    assert kaito_tune_run.returncode == 0, kaito_tune_run.stderr
    results = tmp_path / "results"
    results.mkdir()
    for name in ADAPTER_FILES:
        shutil.copy(kaito_tune_run.output_dir / name, results / name)
    ref = f"{oci_registry}/tuning/adapter-tiny:v1"
    proc = _pusher(
        "--dir", str(results), "--image", ref, "--plain-http",
        "--model-name", "phi-3-mini-4k-instruct",
        "--annotations", '{"$manifest": {"org.opencontainers.image.source": "kaito-test"}}',
    )  # fmt: skip
    _read_until(proc, "waiting for")  # in its wait loop: it must not push before the marker
    assert proc.poll() is None, proc.communicate()[0]
    (results / COMPLETION_MARKER).write_text("Fine-Tuning completed\n")
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output

    base = f"http://{oci_registry}/v2/tuning/adapter-tiny"
    manifest = json.loads(_get(f"{base}/manifests/v1", MANIFEST_MEDIA_TYPE))
    assert manifest["mediaType"] == MANIFEST_MEDIA_TYPE
    assert manifest["annotations"] == {
        "sh.kaito.model.name": "phi-3-mini-4k-instruct",
        "org.opencontainers.image.source": "kaito-test",
    }
    assert manifest["config"]["mediaType"] == CONFIG_MEDIA_TYPE
    (layer_desc,) = manifest["layers"]
    assert layer_desc["mediaType"] == LAYER_MEDIA_TYPE
    layer = _get(f"{base}/blobs/{layer_desc['digest']}")
    assert "sha256:" + hashlib.sha256(layer).hexdigest() == layer_desc["digest"]
    config = json.loads(_get(f"{base}/blobs/{manifest['config']['digest']}"))
    diff_id = "sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest()
    assert config == {"rootfs": {"diff_ids": [diff_id]}}
    members = _members(layer)
    assert sorted(members) == ["data", "data/adapter_config.json", "data/adapter_model.safetensors"]
    for name in ADAPTER_FILES:
        assert members[f"data/{name}"] == (results / name).read_bytes()


def test_sigterm_before_the_marker_pushes_nothing(tmp_path: Path) -> None:
    proc = _pusher("--dir", str(tmp_path), "--image", "127.0.0.1:1/never:v1", "--plain-http")
    started = _read_until(proc, "waiting for")  # logged once the SIGTERM handler is set
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=30)
    output = started + output
    assert proc.returncode == 3, output
    assert "stopped before" in output and "nothing pushed" in output


def test_pusher_exits_3_when_kaito_tune_failed(tmp_path: Path) -> None:
    proc = _pusher("--dir", str(tmp_path), "--image", "127.0.0.1:1/never:v1", "--plain-http")
    (tmp_path / FAILURE_MARKER).write_text("no dataset file found under /mnt/data\n")
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 3, output
    assert "kaito-tune failed (no dataset file found under /mnt/data); nothing pushed" in output


def test_failed_push_exits_1_with_a_message(oci_registry: str, tmp_path: Path) -> None:
    adapter = _adapter(tmp_path)
    (adapter / COMPLETION_MARKER).write_text("done")
    ref = f"{oci_registry}/tuning/tls:v1"
    proc = _pusher("--dir", str(adapter), "--image", ref)  # HTTPS to a plain-HTTP registry
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1, output
    assert f"pusher: error: push to {ref} failed" in output
