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
import ipaddress
import json
import os
import select
import shutil
import socket
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kaito import urlguard
from kaito.api import constants as c
from kaito.api import workspace_from_dict
from kaito.api.validation import validate_create
from kaito.contracts import tuning_configmaps
from kaito.controllers import desired, upstream_tuning
from kaito.controllers.settings import Settings
from kaito.presets import default_catalog
from tests.support.http_server import serving
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
    with serving("127.0.0.1", functools.partial(_Quiet, directory=str(root))) as base:
        yield base, root


SHELLS = ["sh", "bash"] + (["busybox"] if shutil.which("busybox") else [])
"""The pod runs the script with ``sh -c`` in curlimages/curl (busybox sh); here dash, bash and
busybox's ash where it is installed."""
LOOPBACK = "127.0.0.1/32"
"""The test servers' network, trusted as an operator would trust an in-house data server."""


def _download(
    urls: str, dest: Path, *, trusted: str = LOOPBACK, shell: str = "bash"
) -> subprocess.CompletedProcess[str]:
    if shutil.which("curl") is None or shutil.which("getent") is None:
        pytest.skip("curl or getent is not installed")
    env = {"PATH": os.environ["PATH"], "DATA_URLS": urls, "DATA_VOLUME_PATH": str(dest)}
    if trusted:
        env["DATA_TRUSTED_NETWORKS"] = trusted
    script = upstream_tuning.data_downloader_script()
    argv = ["busybox", "sh"] if shell == "busybox" else [shell]
    return subprocess.run(
        [*argv, "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False
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
    assert done.returncode == 2
    assert "file:///etc/hostname: data source URL must use HTTP or HTTPS" in done.stderr
    assert not (tmp_path / "hostname").exists()


# -- the downloader's SSRF guard, at connect time (issue #15) ---------------------------------


class Sentinel:
    """A listener on 127.0.0.1, an internal endpoint that must never see a connection. It
    accepts and hangs up at once, so that a downloader that does reach it fails fast."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port: int = self.sock.getsockname()[1]
        self.accepted = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            if select.select([self.sock], [], [], 0.05)[0]:
                conn, _ = self.sock.accept()
                conn.close()
                self.accepted += 1

    def connections(self) -> int:
        """Every connection ever made, including any still in the backlog."""
        self.stop.set()
        self.thread.join()
        while select.select([self.sock], [], [], 0)[0]:
            self.sock.accept()[0].close()
            self.accepted += 1
        return self.accepted


@pytest.fixture
def sentinel() -> Iterator[Sentinel]:
    s = Sentinel()
    yield s
    s.stop.set()
    s.sock.close()


class _Redirects(http.server.BaseHTTPRequestHandler):
    """Answers every GET with a 302 to ``location``, as a public server may."""

    location = ""
    hits: list[str] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(302)
        self.send_header("Location", self.location)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"moved")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def redirector(sentinel: Sentinel) -> Iterator[tuple[str, type[_Redirects]]]:
    """A data server on 127.0.0.2 (trusted, like an in-house one) redirecting to the sentinel."""
    location = f"http://127.0.0.1:{sentinel.port}/secret"
    handler = type("Handler", (_Redirects,), {"location": location, "hits": []})
    with serving("127.0.0.2", handler) as base:
        yield base, handler


@pytest.mark.parametrize("shell", SHELLS)
def test_the_downloader_follows_no_redirect_to_loopback(
    shell: str, redirector: tuple[str, type[_Redirects]], sentinel: Sentinel, tmp_path: Path
) -> None:
    base, handler = redirector
    dest = tmp_path / "data"
    done = _download(f"{base}/train.parquet", dest, trusted="127.0.0.2/32", shell=shell)
    assert sentinel.connections() == 0
    assert handler.hits == ["/train.parquet"]  # the trusted server itself was reached, once
    assert done.returncode == 2, done.stderr
    assert (
        f"{base}/train.parquet answered HTTP 302 (a redirect to {handler.location}): "
        "redirects are not followed"
    ) in done.stderr
    assert not (dest / "train.parquet").exists()  # not even the redirect's body


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/x",
        "http://127.1:{port}/x",
        "http://2130706433:{port}/x",
        "http://0x7f.0.0.1:{port}/x",
        "http://017700000001:{port}/x",
        "http://[::ffff:127.0.0.1]:{port}/x",
        "http://%31%32%37.0.0.1:{port}/x",
        "http://%6c%6f%63%61%6c%68%6f%73%74:{port}/x",
        "http://\uff11\uff12\uff17.0.0.1:{port}/x",
        "http://127\u30020\u30020\u30021:{port}/x",
        "http://127.0.0.1\u200b:{port}/x",
        "http://localhost:{port}/x",
        "http://LocalHost.:{port}/x",
        "http://user@127.0.0.1:{port}/x",
    ],
)
def test_the_downloader_refuses_loopback_in_any_notation(
    url: str, sentinel: Sentinel, tmp_path: Path
) -> None:
    done = _download(url.format(port=sentinel.port), tmp_path / "data", trusted="")
    assert sentinel.connections() == 0
    assert done.returncode == 2, done.stderr
    assert "data-downloader: " in done.stderr
    assert "data source URL" in done.stderr
    assert not (tmp_path / "data" / "x").exists()


def test_a_name_is_judged_by_every_address_it_resolves_to(
    sentinel: Sentinel, tmp_path: Path
) -> None:
    # the numeric shorthand is no literal to the URL check: the resolver turns it into 127.0.0.1
    done = _download(f"http://127.1:{sentinel.port}/x", tmp_path, trusted="127.0.0.2/32")
    assert sentinel.connections() == 0
    assert done.returncode == 2
    assert "127.1 resolves to 127.0.0.1: data source URL must not target a loopback" in (
        done.stderr
    )


def test_an_invalid_trusted_network_stops_the_downloader(tmp_path: Path) -> None:
    done = _download("https://example.com/x", tmp_path, trusted="10.0.0.0/8 10.0.0/33")
    assert done.returncode == 1
    assert "DATA_TRUSTED_NETWORKS: 10.0.0/33 is not an IP network (CIDR)" in done.stderr


def _edges(cidr: str) -> list[ipaddress.IPv4Address]:
    """A network's first, middle and last address, and its neighbours outside it."""
    net = ipaddress.IPv4Network(cidr)
    inside = [net[0], net[net.num_addresses // 2], net[-1]]
    outside = [a for a in (int(net[0]) - 1, int(net[-1]) + 1) if 0 <= a < 2**32]
    return inside + [ipaddress.IPv4Address(a) for a in outside]


SAMPLE_ADDRESSES = [
    *(str(a) for net in upstream_tuning.FORBIDDEN_V4 for a in _edges(net)),
    "8.8.8.8",
    "1.1.1.1",
    "93.184.215.14",
    "172.15.255.255",
    "172.32.0.0",
    "100.63.255.255",
    "100.128.0.0",
    "192.169.0.0",
    "223.255.255.255",
    "192.0.1.1",
    "::",
    "::1",
    "::ffff:127.0.0.1",
    "::ffff:8.8.8.8",
    "::127.0.0.1",
    "64:ff9b::808:808",
    "64:ff9b:1::1",
    "100::1",
    "fc00::1",
    "fdff::1",
    "fe80::1",
    "febf::1",
    "fec0::1",
    "ff02::1",
    "ff0e::1",
    "2001::1",
    "2001:1ff:ffff::1",
    "2001:200::1",
    "2001:db8::1",
    "2001:4860::8888",
    "2002:808:808::1",
    "2002:7f00:1::",
    "2002:a00:1::1",
    "2600:1f18::1",
    "2a00:1450::1",
    "1fff:ffff::1",
    "4000::1",
    "2001:0db8:0000:0000:0000:0000:0000:0001",
]
SH_STRICTER = {"192.0.0.9", "192.0.0.255", "192.0.0.128", "fec0::1"}
"""Where the sh guard refuses what urlguard allows: all of 192.0.0.0/24 (IETF protocol
assignments; Python's is_private has only parts of it) and fec0::/10 (deprecated site-local)."""


def test_the_sh_guard_judges_addresses_as_urlguard_does() -> None:
    if shutil.which("dash") is None and shutil.which("sh") is None:
        pytest.skip("no sh")
    program = (
        upstream_tuning.url_guard_script()
        + 'for a; do if address_forbidden "$a"; then echo "$a refused"; '
        + 'else echo "$a allowed"; fi; done\n'
    )
    for shell in SHELLS:
        argv = ["busybox", "sh"] if shell == "busybox" else [shell]
        done = subprocess.run(
            [*argv, "-euf", "-c", program, "sh", *SAMPLE_ADDRESSES],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        verdicts = dict(line.split() for line in done.stdout.splitlines())
        assert verdicts.keys() == set(SAMPLE_ADDRESSES), shell
        sh_refuses = {a for a, v in verdicts.items() if v == "refused"}
        python_refuses = {
            a for a in SAMPLE_ADDRESSES if urlguard.address_forbidden(ipaddress.ip_address(a))
        }
        assert python_refuses <= sh_refuses, (shell, python_refuses - sh_refuses)
        assert sh_refuses - python_refuses <= SH_STRICTER, (shell, sh_refuses - python_refuses)
        assert {"8.8.8.8", "2600:1f18::1", "2002:808:808::1"} <= set(verdicts) - sh_refuses


def test_trusted_networks_reach_the_downloader_only_when_set() -> None:
    def env(settings: Settings) -> dict[str, str]:
        (downloader,) = _pod(_job(_workspace(), settings=settings))["initContainers"][1:]
        return {e["name"]: e["value"] for e in downloader["env"]}

    assert "DATA_TRUSTED_NETWORKS" not in env(SETTINGS)
    trusting = Settings(
        runtime_contract="upstream",
        preset_registry="registry.example/kaito",
        trusted_data_networks=("10.20.0.0/16", "fd00::/8"),
    )
    assert env(trusting)["DATA_TRUSTED_NETWORKS"] == "10.20.0.0/16 fd00::/8"


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
