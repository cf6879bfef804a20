"""Fixtures for the tuning tests: the tiny model, tiny datasets and a real OCI registry."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from tests.support.tiny_model import build_tiny_model
from tests.tuning.helpers import TRAINING_TEXT, training_config, write_parquet

HERE = Path(__file__).parent
REGISTRY_BUILD = HERE.parents[1] / "hack" / "registry" / "build.sh"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-layer random Llama with a byte-level tokenizer and a chat template."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def text_dataset(tmp_path: Path) -> Path:
    """A data directory with one parquet file of eight identical ``text`` rows."""
    data = tmp_path / "data"
    write_parquet(data / "train.parquet", [{"text": TRAINING_TEXT} for _ in range(8)])
    return data


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def oci_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real CNCF distribution registry on 127.0.0.1 (in-memory storage); yields host:port.

    Built from hack/registry with the Go toolchain on first use (cached afterwards).
    """
    built = subprocess.run([str(REGISTRY_BUILD)], capture_output=True, text=True, check=False)
    if built.returncode != 0:
        pytest.fail(f"building the test registry failed:\n{built.stderr}")
    binary = built.stdout.strip().splitlines()[-1]
    address = f"127.0.0.1:{_free_port()}"
    log = (tmp_path_factory.mktemp("registry") / "registry.log").open("w")
    proc = subprocess.Popen([binary, address], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://{address}/v2/", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the test registry did not start (see {log.name})")
            time.sleep(0.1)
        yield address
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@attrs.frozen
class TuneRun:
    """One finished ``kaito-tune`` process."""

    returncode: int
    stderr: str
    output_dir: Path
    model_dir: Path


@pytest.fixture(scope="session")
def kaito_tune_run(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> TuneRun:
    """``kaito-tune`` run once as a console script on CPU: tiny model, tiny parquet dataset."""
    work = tmp_path_factory.mktemp("kaito-tune")
    data = work / "data"
    write_parquet(data / "train.parquet", [{"text": TRAINING_TEXT} for _ in range(8)])
    output = work / "results"
    config = work / "training_config.yaml"
    config.write_text(training_config(output, steps=12))
    script = Path(sys.executable).parent / "kaito-tune"
    env = {**os.environ, "YAML_FILE_PATH": str(config), "DATASET_FOLDER_PATH": str(data)}
    proc = subprocess.run(
        [str(script), "--model", str(tiny_model), "--metrics-port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    return TuneRun(proc.returncode, proc.stderr, output, tiny_model)
