"""kaito's CRDs installed (from manifests/crd, as a user would) on the shared control plane."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaito.testenv import ControlPlane
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[3]


def install_crds(plane: ControlPlane) -> None:
    """Apply manifests/crd and wait until both CRDs are Established."""
    plane.kubectl("apply", "--server-side", "-k", str(REPO / "manifests" / "crd"))

    def established() -> bool:
        for crd in ("workspaces.kaito.sh", "nodeclaims.karpenter.sh"):
            proc = plane.kubectl(
                "get",
                "crd",
                crd,
                "-o",
                'jsonpath={.status.conditions[?(@.type=="Established")].status}',
                check=False,
            )
            if proc.stdout.strip() != "True":
                return False
        return True

    wait_until(established, timeout=60, what="CRDs established")


@pytest.fixture(scope="session")
def crds(control_plane: ControlPlane) -> ControlPlane:
    install_crds(control_plane)
    return control_plane
