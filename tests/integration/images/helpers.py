"""Helpers of the image tests: running hack/images/build.sh, buildah and skopeo."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import attrs
from hack.images import build as images_build

REPO = Path(__file__).resolve().parents[3]
BUILD = REPO / "hack" / "images" / "build.sh"


@attrs.frozen
class BuildRun:
    """One finished run of hack/images/build.sh."""

    returncode: int
    stdout: str
    stderr: str

    def statuses(self) -> dict[str, str]:
        """``{image name: "built" | "cached"}`` from the per-image report lines."""
        found: dict[str, str] = {}
        for line in self.stdout.splitlines():
            words = line.split()
            if len(words) > 1 and words[0] in images_build.ENV_NAMES:
                found[words[0]] = words[1]
        return found


def run_build(*args: str) -> BuildRun:
    proc = subprocess.run([str(BUILD), *args], capture_output=True, text=True, check=False)
    return BuildRun(proc.returncode, proc.stdout, proc.stderr)


@attrs.frozen
class Buildah:
    """buildah on the build script's own storage, where the built images already are."""

    engine: images_build.Buildah = attrs.field(factory=images_build.Buildah)

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(self.engine.argv(*args), capture_output=True, text=True, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"buildah {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc

    @contextlib.contextmanager
    def container(self, ref: str) -> Iterator[str]:
        """A working container of ``ref`` (pulled from the local registry when missing)."""
        name = self("from", "--pull=false", "--tls-verify=false", ref).stdout.strip()
        try:
            yield name
        finally:
            self("rm", name, check=False)

    def run(self, container: str, *argv: str, network: str = "none") -> str:
        """Run ``argv`` in ``container`` as the image's user; stdout, or fail with both."""
        out = self("run", f"--network={network}", container, "--", *argv, check=False)
        assert out.returncode == 0, f"{argv} exited {out.returncode}:\n{out.stdout}\n{out.stderr}"
        return out.stdout


def skopeo_inspect(ref: str, *, config: bool = False) -> dict[str, object]:
    argv = ["skopeo", "inspect", "--tls-verify=false", *(["--config"] if config else [])]
    out = subprocess.run([*argv, f"docker://{ref}"], capture_output=True, text=True, check=False)
    assert out.returncode == 0, f"skopeo inspect {ref} failed: {out.stderr}"
    body: dict[str, object] = json.loads(out.stdout)
    return body
