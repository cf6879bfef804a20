"""The ``upstream`` contract's tuning Job: who gets it, its shape for each input and output,
and the two scripts kaito runs in upstream's images (run here under ``sh``).

Case 06's Job is compared field by field with upstream's in
``tests/integration/parity/test_upstream_parity.py``; this file covers what that case does
not: the other presets, inputs and outputs, the output directory, and the scripts' behaviour.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import json
import os
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kaito.api import constants as c
from kaito.api import workspace_from_dict
from kaito.api.validation import validate_create
from kaito.contracts import tuning_configmaps
from kaito.controllers import desired, upstream_tuning
from kaito.controllers.settings import Settings
from kaito.presets import default_catalog
from tests.support.waiting import wait_until

CATALOG = default_catalog()
SETTINGS = Settings(runtime_contract="upstream", preset_registry="registry.example/kaito")
URL = "https://example.com/data/train.parquet?download=true"
UPSTREAM_TUNES = {
    "phi-3-mini-4k-instruct",
    "phi-3-mini-128k-instruct",
    "phi-3-medium-4k-instruct",
    "phi-3-medium-128k-instruct",
    "phi-3.5-mini-instruct",
    "phi-4",
    "phi-4-mini-instruct",
    "qwen2.5-coder-7b-instruct",
    "qwen2.5-coder-32b-instruct",
}
"""TransformerTuningParameters of upstream v0.12, less mistral-7b (its lookup panics)."""


def _workspace(
    preset: str = "phi-3-mini-4k-instruct",
    *,
    method: str = "qlora",
    source: dict[str, Any] | None = None,
    output: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    sku: str = "Standard_NC24ads_A100_v4",
    config: str | None = None,
) -> Any:
    tuning: dict[str, Any] = {
        "preset": {"name": preset},
        "method": method,
        "input": source or {"urls": [URL]},
        "output": output or {"image": "registry.example/adapter:1", "imagePushSecret": "s"},
    }
    if config:
        tuning["config"] = config
    return workspace_from_dict(
        {
            "apiVersion": "kaito.sh/v1beta1",
            "kind": "Workspace",
            "metadata": {
                "name": "tune",
                "namespace": "ns",
                "uid": "u-1",
                "annotations": annotations or {},
            },
            "resource": {"instanceType": sku, "labelSelector": {"matchLabels": {"apps": "t"}}},
            "tuning": tuning,
        }
    )


def _job(ws: Any, results: str = "/mnt/results", settings: Settings = SETTINGS) -> Any:
    preset = CATALOG.tuning_preset(ws.preset_name)
    sku = CATALOG.sku(ws.resource.instance_type)
    return upstream_tuning.tuning_job(ws, preset, sku, settings, "1", results=results)


def _pod(job: Any) -> Any:
    return job["spec"]["template"]["spec"]


# -- who gets upstream's Job -----------------------------------------------------------------


def test_upstream_tunes_the_presets_it_ships_and_kaito_the_others() -> None:
    tuned = {p.name for p in CATALOG.tuning_presets() if p.upstream_tuned}
    assert tuned == UPSTREAM_TUNES
    for preset in CATALOG.tuning_presets():
        method = preset.methods[0]
        ws = _workspace(preset.name, method=method)
        expected = c.CONTRACT_UPSTREAM if preset.upstream_tuned else c.CONTRACT_KAITO
        assert desired.resolve(ws, CATALOG, SETTINGS).contract == expected, preset.name
        kaito = Settings(runtime_contract="kaito")
        assert desired.resolve(ws, CATALOG, kaito).contract == c.CONTRACT_KAITO


def test_the_annotation_chooses_the_contract_of_a_tuning_workspace() -> None:
    pinned = _workspace(annotations={c.ANNOTATION_RUNTIME_CONTRACT: "kaito"})
    assert desired.resolve(pinned, CATALOG, SETTINGS).contract == c.CONTRACT_KAITO
    chosen = _workspace(annotations={c.ANNOTATION_RUNTIME_CONTRACT: "upstream"})
    kaito = Settings(runtime_contract="kaito")
    assert desired.resolve(chosen, CATALOG, kaito).contract == c.CONTRACT_UPSTREAM


def test_admission_refuses_upstream_for_a_preset_upstream_does_not_tune() -> None:
    ws = _workspace(
        "falcon-7b",
        sku="Standard_NC24ads_A100_v4",
        annotations={c.ANNOTATION_RUNTIME_CONTRACT: "upstream"},
    )
    errors = validate_create(ws, catalog=CATALOG, cloud="azure").errors
    assert any("upstream's images do not tune preset falcon-7b" in e for e in errors), errors
    assert any(f"use {c.ANNOTATION_RUNTIME_CONTRACT}: kaito" in e for e in errors)
    plain = _workspace("falcon-7b", sku="Standard_NC24ads_A100_v4")
    assert validate_create(plain, catalog=CATALOG, cloud="azure").errors == []


# -- the Job ---------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", sorted(UPSTREAM_TUNES))
def test_each_preset_pulls_its_model_artifact_and_runs_kaito_base(preset: str) -> None:
    pod = _pod(_job(_workspace(preset)))
    weights = pod["initContainers"][0]
    assert weights["name"] == "model-weights-downloader"
    assert weights["command"] == [
        "oras",
        "pull",
        f"registry.example/kaito/kaito-{preset}:0.2.0",
        "-o",
        "/workspace/weights",
    ]
    trainer = pod["containers"][0]
    assert trainer["image"] == "registry.example/kaito/kaito-base:0.5.0"
    env = [e["name"] for e in trainer["env"]]
    expected = ["PYTORCH_CUDA_ALLOC_CONF"]
    if preset.startswith("phi-3"):
        expected.insert(0, "DEFAULT_TARGET_MODULES")
    assert env == expected


def test_one_process_per_gpu_of_the_node() -> None:
    pod = _pod(_job(_workspace(sku="Standard_NC96ads_A100_v4")))
    trainer = pod["containers"][0]
    assert "--num_processes=4 /workspace/tfs/fine_tuning.py" in trainer["command"][2]
    assert trainer["resources"]["limits"] == {"nvidia.com/gpu": "4"}


def test_an_insecure_registry_is_pulled_and_pushed_over_http() -> None:
    local = Settings(
        runtime_contract="upstream",
        preset_registry="10.0.0.1:5000/kaito",
        insecure_registries=("10.0.0.1:5000",),
    )
    ws = _workspace(output={"image": "10.0.0.1:5000/adapter:1", "imagePushSecret": "s"})
    pod = _pod(_job(ws, settings=local))
    assert pod["initContainers"][0]["command"][-1] == "--plain-http"
    assert "--plain-http" in pod["containers"][1]["args"][0]


def test_image_input_and_volume_output() -> None:
    ws = _workspace(
        source={"name": "ds", "image": "registry.example/data:1", "imagePullSecrets": ["pull"]},
        output={"volumeSource": {"persistentVolumeClaim": {"claimName": "adapters"}}},
    )
    pod = _pod(_job(ws, results="/mnt/out"))
    assert [x["name"] for x in pod["initContainers"]] == ["model-weights-downloader", "puller"]
    puller = pod["initContainers"][1]
    assert puller["image"] == SETTINGS.puller_image
    assert "docker://registry.example/data:1" in puller["args"][0]
    assert "/root/.docker/config.d/ds-tuning-input" in puller["args"][0]
    assert [x["name"] for x in pod["containers"]] == ["tune"]
    assert "shareProcessNamespace" not in pod
    assert "imagePullSecrets" not in pod
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert list(volumes) == [
        "dshm",
        "model-weights-volume",
        "config-volume",
        "results-volume",
        "docker-config-ds-tuning-input",
        "data-volume",
    ]
    assert volumes["results-volume"]["persistentVolumeClaim"] == {"claimName": "adapters"}
    assert volumes["config-volume"]["configMap"] == {"name": "qlora-params-template"}
    projected = volumes["docker-config-ds-tuning-input"]["projected"]["sources"]
    assert projected == [
        {"secret": {"items": [{"key": ".dockerconfigjson", "path": "pull.json"}], "name": "pull"}}
    ]
    mounts = [(m["name"], m["mountPath"]) for m in pod["containers"][0]["volumeMounts"]]
    assert mounts[3:] == [
        ("results-volume", "/mnt/out"),
        ("docker-config-ds-tuning-input", "/root/.docker/config.d/ds-tuning-input"),
        ("data-volume", "/mnt/data"),
    ]


def test_volume_input_is_mounted_and_needs_no_init_container() -> None:
    ws = _workspace(
        method="lora",
        source={"volumeSource": {"persistentVolumeClaim": {"claimName": "data"}}},
    )
    pod = _pod(_job(ws))
    assert [x["name"] for x in pod["initContainers"]] == ["model-weights-downloader"]
    (data,) = [v for v in pod["volumes"] if v["name"] == "data-volume"]
    assert data["persistentVolumeClaim"] == {"claimName": "data"}
    assert upstream_tuning.config_map_name(ws) == "lora-params-template"


def test_the_users_config_map_is_mounted_by_name() -> None:
    ws = _workspace(config="mine")
    (config,) = [v for v in _pod(_job(ws))["volumes"] if v["name"] == "config-volume"]
    assert config["configMap"] == {"name": "mine"}


def test_the_spot_toleration_is_azures_only() -> None:
    keys = [t["key"] for t in upstream_tuning.tolerations(Settings(cloud="aws"))]
    assert keys == ["gpu", "sku"]
    assert upstream_tuning.tolerations(SETTINGS)[-1]["key"] == (
        "kubernetes.azure.com/scalesetpriority"
    )


# -- the ConfigMap ---------------------------------------------------------------------------


def _configmap(output_dir: str | None) -> dict[str, Any]:
    text = "training_config: {}\n"
    if output_dir is not None:
        text = f"training_config:\n  TrainingArguments:\n    output_dir: {output_dir}\n"
    return {"data": {"training_config.yaml": text}}


@pytest.mark.parametrize(
    ("output_dir", "expected"),
    [
        (None, "/mnt/output"),
        ('""', "/mnt/output"),
        ('"/mnt/results"', "/mnt/results"),
        ('"out"', "/mnt/out"),
        ('"/tmp/x"', "/mnt/tmp/x"),
        ('"/mnt/a/../b/"', "/mnt/b"),
    ],
)
def test_results_go_where_the_config_says_under_mnt(output_dir: str | None, expected: str) -> None:
    assert upstream_tuning.results_dir(_configmap(output_dir)) == expected


@pytest.mark.parametrize("output_dir", ['"/mnt"', '"/mnt/.."', "3"])
def test_an_output_dir_that_is_no_directory_under_mnt_is_refused(output_dir: str) -> None:
    with pytest.raises(ValueError, match="output_dir"):
        upstream_tuning.results_dir(_configmap(output_dir))


def test_the_default_copy_is_verbatim_but_for_what_the_server_sets() -> None:
    source = tuning_configmaps.configmap("qlora")
    source["metadata"].update(
        uid="x",
        resourceVersion="7",
        creationTimestamp="2026-01-01T00:00:00Z",
        managedFields=[{"manager": "kubectl"}],
        labels={"team": "ml"},
        annotations={"note": "kept"},
    )
    copy = upstream_tuning.copied_config_map(source, "ns")
    assert copy["metadata"] == {
        "name": "qlora-params-template",
        "namespace": "ns",
        "labels": {"team": "ml"},
        "annotations": {"note": "kept"},
    }
    assert copy["data"] == source["data"]
    assert source["metadata"]["namespace"] == "kaito-system"  # the source is left as it was


def test_the_default_templates_put_results_in_mnt_results() -> None:
    for method in ("lora", "qlora"):
        configmap = tuning_configmaps.configmap(method)
        assert upstream_tuning.results_dir(configmap) == "/mnt/results"


@pytest.mark.parametrize(
    ("reference", "normalised"),
    [
        ("myregistry.azurecr.io/phi3-tuned:0.0.1", "myregistry.azurecr.io/phi3-tuned:0.0.1"),
        ("adapter", "docker.io/library/adapter:latest"),
        ("me/adapter:2", "docker.io/me/adapter:2"),
        ("localhost:5000/adapter", "localhost:5000/adapter:latest"),
        ("r.example/a/b:1@sha256:0123", "r.example/a/b@sha256:0123"),
    ],
)
def test_the_push_target_is_normalised_as_docker_does(reference: str, normalised: str) -> None:
    assert upstream_tuning.docker_reference(reference) == normalised


# -- the scripts, run here -------------------------------------------------------------------


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on localhost for ``tmp_path/www``."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def _download(urls: str, dest: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    env = {"PATH": os.environ["PATH"], "DATA_URLS": urls, "DATA_VOLUME_PATH": str(dest)}
    script = upstream_tuning.data_downloader_script()
    return subprocess.run(
        ["sh", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_downloader_names_files_after_their_path(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    base, root = served
    (root / "train.parquet").write_bytes(b"rows")
    (root / "eval.jsonl").write_text('{"text": "x"}\n')
    dest = tmp_path / "data"
    done = _download(f"{base}/train.parquet?download=true {base}/eval.jsonl#part", dest)
    assert done.returncode == 0, done.stderr
    assert (dest / "train.parquet").read_bytes() == b"rows"
    assert (dest / "eval.jsonl").read_text() == '{"text": "x"}\n'


def test_the_downloader_fails_on_a_missing_or_empty_file(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    base, root = served
    (root / "empty.parquet").write_bytes(b"")
    dest = tmp_path / "data"
    missing = _download(f"{base}/nothing.parquet", dest)
    assert missing.returncode == 1
    assert f"could not fetch {base}/nothing.parquet" in missing.stderr
    empty = _download(f"{base}/empty.parquet", dest)
    assert empty.returncode == 1
    assert not (dest / "empty.parquet").exists()
    assert _download("", dest).returncode == 1


def test_the_downloader_fetches_only_http(tmp_path: Path) -> None:
    done = _download("file:///etc/hostname", tmp_path)
    assert done.returncode == 1
    assert "could not fetch file:///etc/hostname" in done.stderr
    assert not (tmp_path / "hostname").exists()


FAKE_ORAS = """#!/bin/sh
# records its arguments and the files it was given, as `oras push` would upload them
out="$ORAS_OUT"
printf '%s\\n' "$@" > "$out/args"
cp config.json annotations.json layer.tar.gz "$out/"
"""


@pytest.fixture
def pod(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A fake pod: results dir, a /proc listing the trainer and a pause process, an oras."""
    results = tmp_path / "results"
    results.mkdir()
    (results / "adapter_config.json").write_text('{"r": 8}')
    (results / "adapter_model.safetensors").write_bytes(b"weights")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "oras").write_text(FAKE_ORAS)
    (bin_dir / "oras").chmod(0o755)
    # each poll of the wait loop ends in `sleep`: counted, so tests wait for polls, not time
    polls = tmp_path / "polls"
    real_sleep = shutil.which("sleep")
    (bin_dir / "sleep").write_text(f'#!/bin/sh\necho poll >> {polls}\nexec {real_sleep} "$@"\n')
    (bin_dir / "sleep").chmod(0o755)
    out = tmp_path / "pushed"
    out.mkdir()
    proc = tmp_path / "proc"
    sandbox = proc / "1"
    sandbox.mkdir(parents=True)
    (sandbox / "comm").write_text("pause\n")  # the pod's sandbox: never signalled
    pause = subprocess.Popen(["sleep", "120"])
    (proc / str(pause.pid)).mkdir()
    (proc / str(pause.pid) / "comm").write_text("pause\n")
    trainer = proc / "999999"
    trainer.mkdir()
    (trainer / "cmdline").write_bytes(b"python3\0/workspace/tfs/fine_tuning.py\0")
    (trainer / "comm").write_text("python3\n")
    try:
        yield {
            "results": results,
            "bin": bin_dir,
            "out": out,
            "proc": proc,
            "pause": pause,
            "polls": polls,
        }
    finally:
        pause.kill()
        pause.wait()


def _push(pod: dict[str, Any], **options: Any) -> subprocess.Popen[str]:
    script = upstream_tuning.pusher_script(
        str(pod["results"]),
        "registry.example/adapter:1",
        "phi-3-mini-4k-instruct",
        proc=str(pod["proc"]),
        poll_seconds=1,
        **options,
    )
    env = {"PATH": f"{pod['bin']}:{os.environ['PATH']}", "ORAS_OUT": str(pod["out"])}
    return subprocess.Popen(
        ["sh", "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _polled(pod: dict[str, Any], times: int) -> None:
    """Wait until the pusher's wait loop has gone round ``times`` times."""

    def count() -> bool:
        path: Path = pod["polls"]
        return path.exists() and len(path.read_text().splitlines()) >= times

    wait_until(count, timeout=30, what=f"{times} poll(s) of the pusher")


def test_the_pusher_pushes_the_adapter_then_stops_pause(pod: dict[str, Any]) -> None:
    pusher = _push(pod)
    _polled(pod, 2)  # saw the trainer, no marker, and went round again
    assert pusher.poll() is None  # waiting for the marker
    (pod["results"] / "fine_tuning_completed.txt").write_text("done")
    _, stderr = pusher.communicate(timeout=30)
    assert pusher.returncode == 0, stderr
    assert pod["pause"].wait(timeout=10) == -15  # SIGTERM ends the pause container
    args = (pod["out"] / "args").read_text().split("\n")
    assert "registry.example/adapter:1" in args
    assert args[:2] == ["push", "--registry-config"]
    assert "layer.tar.gz:application/vnd.oci.image.layer.v1.tar+gzip" in args
    assert "config.json:application/vnd.oci.image.config.v1+json" in args
    annotations = json.loads((pod["out"] / "annotations.json").read_text())
    assert annotations == {"$manifest": {"sh.kaito.model.name": "phi-3-mini-4k-instruct"}}
    tar_bytes = gzip.decompress((pod["out"] / "layer.tar.gz").read_bytes())
    config = json.loads((pod["out"] / "config.json").read_text())
    assert config == {"rootfs": {"diff_ids": [f"sha256:{hashlib.sha256(tar_bytes).hexdigest()}"]}}
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as layer:
        names = set(layer.getnames())
        adapter = layer.extractfile("data/adapter_config.json")
        assert adapter is not None and adapter.read() == b'{"r": 8}'
    assert {"data/adapter_config.json", "data/adapter_model.safetensors"} <= names


def test_the_pusher_fails_the_pod_when_the_trainer_dies_without_the_marker(
    pod: dict[str, Any],
) -> None:
    pusher = _push(pod)
    _polled(pod, 1)  # the trainer was seen running
    shutil.rmtree(pod["proc"] / "999999")  # the trainer exits, no marker
    _, stderr = pusher.communicate(timeout=30)
    assert pusher.returncode == 1
    assert "the trainer exited without writing" in stderr
    assert pod["pause"].wait(timeout=10) == -15
    assert not (pod["out"] / "args").exists()


def test_the_pusher_gives_up_when_no_trainer_ever_runs(pod: dict[str, Any]) -> None:
    shutil.rmtree(pod["proc"] / "999999")
    pusher = _push(pod, start_grace_seconds=2)
    _, stderr = pusher.communicate(timeout=30)
    assert pusher.returncode == 1
    assert "no trainer in the pod after 2 s" in stderr
