"""kubectl meets kaito's admission webhook, served by the running ``kaito manager``."""

from __future__ import annotations

import copy
import json

import pytest

from kaito.testenv import ControlPlane
from tests.e2e.conftest import Operator
from tests.e2e.helpers import SAMPLES, sample


@pytest.mark.parametrize("sample_file", sorted(p.name for p in SAMPLES.glob("workspace-*.yaml")))
def test_every_sample_is_accepted_unchanged(
    operator: Operator, control_plane: ControlPlane, namespace: str, sample_file: str
) -> None:
    result = control_plane.kubectl(
        "apply", "--dry-run=server", "-n", namespace, "-f", str(SAMPLES / sample_file)
    )
    assert "created (server dry run)" in result.stdout


def _apply(plane: ControlPlane, ws: dict, namespace: str) -> tuple[int, str]:
    result = plane.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(ws), check=False)
    return result.returncode, result.stderr


def test_too_small_instance_and_unknown_preset_are_rejected_with_a_message(
    operator: Operator, control_plane: ControlPlane, namespace: str
) -> None:
    small = sample("workspace-phi-3-mini.yaml")
    small["resource"]["instanceType"] = "Standard_NC6"
    code, stderr = _apply(control_plane, small, namespace)
    assert code != 0
    assert 'admission webhook "validation.workspace.kaito.sh" denied the request' in stderr
    assert "Standard_NC6" in stderr

    unknown = sample("workspace-phi-3-mini.yaml")
    unknown["inference"]["preset"]["name"] = "no-such-model"
    code, stderr = _apply(control_plane, unknown, namespace)
    assert code != 0
    assert "Unsupported inference preset name no-such-model" in stderr


def test_changing_the_instance_type_is_rejected(
    operator: Operator, control_plane: ControlPlane, namespace: str
) -> None:
    ws = sample("workspace-phi-3-mini.yaml")
    code, stderr = _apply(control_plane, ws, namespace)
    assert code == 0, stderr
    changed = copy.deepcopy(ws)
    changed["resource"]["instanceType"] = "Standard_NC24ads_A100_v4"
    code, stderr = _apply(control_plane, changed, namespace)
    assert code != 0
    assert 'admission webhook "validation.workspace.kaito.sh" denied the request' in stderr
    assert "instanceType cannot be changed" in stderr


def test_tuning_on_a_small_gpu_is_accepted_with_a_warning(
    operator: Operator, control_plane: ControlPlane, namespace: str
) -> None:
    result = control_plane.kubectl(
        "apply",
        "--dry-run=server",
        "-n",
        namespace,
        "-f",
        str(SAMPLES / "workspace-tuning-phi-3-mini.yaml"),
    )
    assert "created (server dry run)" in result.stdout
    assert "Warning:" in result.stderr
