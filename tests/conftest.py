"""Shared fixtures: the real local control plane and a fresh namespace per test.

Integration tests never run against a fake API server. The control plane is
started once per test session from the binaries built by hack/testenv/build.sh;
when they are missing the run fails and says how to build them. Set
``KAITO_TESTENV_ATTACH=<dir>`` to reuse one already started with
``kaito testenv up --dir <dir>`` (faster while iterating).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kaito.testenv import ControlPlane

_TESTS = Path(__file__).resolve().parent
_REAL_NODE_DIRS = ("e2e/realnode", "e2e/incluster")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by where it lives: ``integration`` (tests/integration: the local
    control plane), ``e2e`` (tests/e2e: whole flows through kubectl) and ``slow`` for the
    real-node and in-cluster suites, so ``pytest -m "not e2e"`` or ``-m "not slow"`` work."""
    for item in items:
        try:
            where = item.path.resolve().relative_to(_TESTS).as_posix()
        except ValueError:
            continue
        if where.startswith("integration/"):
            item.add_marker(pytest.mark.integration)
        elif where.startswith("e2e/"):
            item.add_marker(pytest.mark.e2e)
            if where.startswith(_REAL_NODE_DIRS):
                item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    attach = os.environ.get("KAITO_TESTENV_ATTACH")
    if attach:
        yield ControlPlane.load(Path(attach))
        return
    plane = ControlPlane(workdir=tmp_path_factory.mktemp("controlplane"))
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()


def _namespace_name(request: pytest.FixtureRequest) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    return f"{base}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def namespace(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new namespace (with its default ServiceAccount ready), deleted after the test."""
    name = _namespace_name(request)
    control_plane.kubectl("create", "namespace", name)
    deadline = time.monotonic() + 120  # kcm backs off for up to 60 s after an apiserver restart
    while time.monotonic() < deadline:
        got = control_plane.kubectl("get", "serviceaccount", "default", "-n", name, check=False)
        if got.returncode == 0:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"namespace {name}: default ServiceAccount never appeared")
    yield name
    subprocess.run(
        [
            str(control_plane.bin_dir / "kubectl"),
            f"--kubeconfig={control_plane.kubeconfig}",
            "delete",
            "namespace",
            name,
            "--wait=false",
            "--ignore-not-found",
        ],
        capture_output=True,
        check=False,
    )
