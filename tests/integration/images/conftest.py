"""Fixtures for the image tests: the images built by hack/images/build.sh, and buildah.

The build is the real one (buildah FROM the debootstrap'ed bases, pushed to the local registry
on 10.245.0.1:5000): a no-op when every tag is already pushed, about half an hour on a cold
machine (torch and its CUDA wheels dominate). It needs root (the host address on lo,
debootstrap, buildah's storage).
"""

from __future__ import annotations

import pytest
from hack.images import build as images_build

from kaito.testenv.registry import LocalRegistry
from tests.integration.images.helpers import Buildah, run_build


@pytest.fixture(scope="session")
def built_images() -> dict[str, str]:
    """``images.env`` after a build: ``{"KAITO_OPERATOR_IMAGE": "10.245.0.1:5000/...", ...}``."""
    result = run_build()
    if result.returncode != 0:
        pytest.fail(f"hack/images/build.sh failed:\n{result.stdout}\n{result.stderr[-4000:]}")
    env: dict[str, str] = {}
    for line in images_build.env_file().read_text().splitlines():
        key, _, value = line.partition("=")
        env[key] = value
    return env


@pytest.fixture(scope="session")
def registry() -> LocalRegistry:
    """The persistent local registry (started if it is not running)."""
    reg = LocalRegistry()
    reg.ensure()
    return reg


@pytest.fixture(scope="session")
def buildah() -> Buildah:
    return Buildah()
