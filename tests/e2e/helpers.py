"""kubectl-level helpers for the end-to-end tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from kaito.testenv import ControlPlane
from tests.support.waiting import condition, get_json, wait_until

SAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "samples"


def sample(name: str) -> dict[str, Any]:
    """A sample Workspace from manifests/samples (copies of the shared examples)."""
    data: dict[str, Any] = yaml.safe_load((SAMPLES / name).read_text())
    return data


def apply_workspace(plane: ControlPlane, ws: dict[str, Any], namespace: str) -> None:
    plane.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(ws))


def workspace(plane: ControlPlane, name: str, namespace: str) -> dict[str, Any] | None:
    return get_json(plane, "workspace", name, "-n", namespace)


def conditions_true(obj: dict[str, Any] | None, *kinds: str) -> bool:
    return all((c := condition(obj, k)) is not None and c["status"] == "True" for k in kinds)


def wait_ready(
    plane: ControlPlane, name: str, namespace: str, timeout: float = 120
) -> dict[str, Any]:
    kinds = ("ResourceReady", "InferenceReady", "WorkspaceReady", "WorkspaceSucceeded")
    return wait_until(
        lambda: ws if conditions_true(ws := workspace(plane, name, namespace), *kinds) else None,
        timeout=timeout,
        what=f"workspace {namespace}/{name} ready",
    )


def nodeclaims_of(plane: ControlPlane, name: str, namespace: str) -> list[dict[str, Any]]:
    listed = get_json(
        plane,
        "nodeclaims",
        "-l",
        f"kaito.sh/workspace={name},kaito.sh/workspacenamespace={namespace}",
    )
    return list((listed or {}).get("items", []))


def fail_image_pull(
    plane: ControlPlane, namespace: str, pod: str, container: str, message: str
) -> None:
    """Play the kubelet that cannot pull the image: kwok lets go of the pod's status
    (``kwok.x-k8s.io/status=custom``) and we write an ImagePullBackOff status."""
    plane.kubectl("annotate", "pod", pod, "-n", namespace, "kwok.x-k8s.io/status=custom")
    status = {
        "status": {
            "phase": "Pending",
            "conditions": [
                {"type": "Ready", "status": "False"},
                {"type": "ContainersReady", "status": "False"},
            ],
            "containerStatuses": [
                {
                    "name": container,
                    "image": "mcr.microsoft.com/aks/kaito/kaito-phi-3-mini-4k-instruct:0.1.1",
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "ImagePullBackOff", "message": message}},
                }
            ],
        }
    }
    plane.kubectl(
        "patch",
        "pod",
        pod,
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(status),
    )
