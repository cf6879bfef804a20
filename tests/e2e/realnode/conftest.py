"""Real-node fixtures: kaito's Workspaces run on a real kubelet + containerd on this machine.

The provisioner runs with ``--provider=local``: the NodeClaim of a CPU instance type becomes
a real node (see :mod:`kaito.provisioner.cloud.local`), pods pull the images
``hack/images/build.sh`` built from the local registry, and the SmolLM2 preset's weights
come from the OCI artifact ``hack/models/smollm2.py`` published there. Needs root; on a
machine that cannot host a node these tests fail with the provider's own message.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kaito.testenv import ControlPlane
from tests.e2e.conftest import REPO, Operator, install_crds

LOCAL_ADDRESS = "10.245.0.1"
"""The host address pods reach the local registry (and the tuning test's data server) on."""
LOCAL_REGISTRY = f"{LOCAL_ADDRESS}:5000"


def _build(*argv: str) -> str:
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed:\n{proc.stderr[-4000:]}")
    return proc.stdout.strip()


@pytest.fixture(scope="session")
def local_artifacts() -> dict[str, str]:
    """Node binaries, images and model weights in the local registry (no-ops when warm)."""
    if os.geteuid() != 0:
        pytest.skip("real nodes need root (containerd, kubelet, CNI)")
    node_bin = _build("bash", "hack/node/build.sh").splitlines()[-1]
    _build("bash", "hack/images/build.sh")
    env_file = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    images: dict[str, str] = {"KAITO_NODE_BIN": node_bin}
    for line in (env_file / "kaito" / "images" / "images.env").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            images[key.strip()] = value.strip()
    _build(
        sys.executable,
        "hack/models/smollm2.py",
        "--publish",
        f"{LOCAL_REGISTRY}/kaito",
        "--plain-http",
    )
    return images


@pytest.fixture(scope="module")
def real_operator(
    control_plane: ControlPlane,
    local_artifacts: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Operator]:
    install_crds(control_plane)
    # short: the kubelet's unix sockets live below it (at most 108 bytes)
    state = Path(tempfile.mkdtemp(prefix="kaito-e2e-", dir="/tmp"))
    op = Operator(
        control_plane,
        tmp_path_factory.mktemp("real-operator"),
        [
            "--sync-period=20s",
            "--runtime-contract=kaito",
            f"--inference-image={local_artifacts['KAITO_INFERENCE_IMAGE']}",
            f"--tuning-image={local_artifacts['KAITO_TUNING_IMAGE']}",
            f"--trusted-data-networks={LOCAL_ADDRESS}/32",
            f"--weights-puller-image={local_artifacts['KAITO_PULLER_IMAGE']}",
            f"--puller-image={local_artifacts['KAITO_PULLER_IMAGE']}",
            f"--preset-registry={LOCAL_REGISTRY}/kaito",
            f"--insecure-registries={LOCAL_REGISTRY}",
        ],
        provisioner_args=(
            "--provider=local",
            f"--local-bin-dir={local_artifacts['KAITO_NODE_BIN']}",
            f"--local-state-dir={state}",
            f"--sandbox-image={local_artifacts['KAITO_PAUSE_IMAGE']}",
            f"--insecure-registry={LOCAL_REGISTRY}",
        ),
    )
    op.start()
    try:
        yield op
    finally:
        op.stop()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "kaito.cli",
                "local-nodes",
                "down",
                f"--local-state-dir={state}",
                f"--local-bin-dir={local_artifacts['KAITO_NODE_BIN']}",
            ],
            cwd=REPO,
            check=False,
        )
        shutil.rmtree(state, ignore_errors=True)
