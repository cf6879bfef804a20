"""review() behind a real API server: kubectl prints our denials and warnings.

The ``guarded`` namespace (see conftest.py) is one where a small HTTPS server on
loopback, standing in for the manager's webhook server, answers with
``kaito.api.validation.review``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kaito.testenv import ControlPlane

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "manifests" / "samples"


def _apply(plane: ControlPlane, namespace: str, text: str) -> tuple[int, str]:
    proc = plane.kubectl("apply", "-n", namespace, "-f", "-", input=text, check=False)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_sample_accepted(control_plane: ControlPlane, guarded: str, path: Path) -> None:
    code, out = _apply(control_plane, guarded, path.read_text())
    assert code == 0, out
    if "tuning" in path.name:
        # kubectl prints admission warnings on stderr as "Warning: ..."
        assert "Warning: Tuning preset phi-3-mini" in out


def test_too_small_instance_type_rejected(control_plane: ControlPlane, guarded: str) -> None:
    text = (
        (EXAMPLES / "workspace-phi-3-mini.yaml")
        .read_text()
        .replace("Standard_NC6s_v3", "Standard_NC6")
    )
    code, out = _apply(control_plane, guarded, text)
    assert code != 0
    assert (
        'admission webhook "validation.workspace.kaito.sh" denied the request: validation failed:'
        in out
    )
    assert "Instance type Standard_NC6 has NVIDIA K80 GPUs" in out
    text = text.replace("phi-3-mini-4k-instruct", "falcon-7b")
    code, out = _apply(control_plane, guarded, text)
    assert code != 0
    assert (
        "Insufficient total GPU memory: Instance type Standard_NC6 has a total of 12Gi, "
        "but preset falcon-7b requires at least 14Gi" in out
    )


def test_unknown_preset_rejected(control_plane: ControlPlane, guarded: str) -> None:
    text = (
        (EXAMPLES / "workspace-phi-3-mini.yaml")
        .read_text()
        .replace("phi-3-mini-4k-instruct", "phi-9-mega")
    )
    code, out = _apply(control_plane, guarded, text)
    assert code != 0
    assert "Unsupported inference preset name phi-9-mega" in out


def test_instance_type_change_rejected(control_plane: ControlPlane, guarded: str) -> None:
    text = (EXAMPLES / "workspace-phi-3-mini.yaml").read_text()
    assert _apply(control_plane, guarded, text)[0] == 0
    code, out = _apply(
        control_plane, guarded, text.replace("Standard_NC6s_v3", "Standard_NC12s_v3")
    )
    assert code != 0
    assert (
        "instanceType cannot be changed once set when node auto-provisioning is enabled: "
        "resource.instanceType" in out
    )
    # Annotations may change, and the object can still be deleted.
    control_plane.kubectl("annotate", "workspace", "workspace-phi-3-mini", "-n", guarded, "team=ml")
    control_plane.kubectl("delete", "workspace", "workspace-phi-3-mini", "-n", guarded)
