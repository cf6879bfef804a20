"""Where the Go-built control-plane binaries live.

``hack/testenv/build.sh`` builds etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, kubectl and kwok into a cache outside the repository, keyed by
the pinned versions. This module asks that script for the directory (without
building) and explains how to build when something is missing, so a test run
never silently skips the real control plane.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
)


class BinariesMissingError(RuntimeError):
    """The control-plane binaries have not been built for the pinned versions."""


def repo_root() -> Path:
    """The checkout that holds ``hack/testenv`` (this file lives in src/kaito/testenv)."""
    return Path(__file__).resolve().parents[3]


def build_script() -> Path:
    return repo_root() / "hack" / "testenv" / "build.sh"


def bin_dir() -> Path:
    """The cache directory the binaries for the pinned versions are (or would be) in."""
    override = os.environ.get("KAITO_TESTENV_BIN")
    if override:
        return Path(override)
    script = build_script()
    if not script.exists():
        raise BinariesMissingError(f"{script} not found; KAITO_TESTENV_BIN is not set either")
    out = subprocess.run(
        ["bash", str(script), "--bin-dir"], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip())


def require_binaries() -> Path:
    """Return the bin dir, or fail saying exactly how to build what is missing."""
    directory = bin_dir()
    missing = [name for name in BINARIES if not (directory / name).is_file()]
    if missing:
        raise BinariesMissingError(
            f"control-plane binaries missing in {directory}: {', '.join(missing)}. "
            "Build them with `make testenv-build` (hack/testenv/build.sh; needs Go and the "
            "Go module proxy, about 20-30 minutes cold on 2 cores)."
        )
    return directory
