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
    """Wait for every condition of a ready Workspace; on timeout, fail with the conditions
    and the pods' container states last seen (what the Workspace and kubelet said)."""
    kinds = ("ResourceReady", "InferenceReady", "WorkspaceReady", "WorkspaceSucceeded")
    seen: list[dict[str, Any] | None] = [None]

    def probe() -> dict[str, Any] | None:
        seen[0] = ws = workspace(plane, name, namespace)
        return ws if conditions_true(ws, *kinds) else None

    try:
        return wait_until(probe, timeout=timeout, what=f"workspace {namespace}/{name} ready")
    except AssertionError:
        raise AssertionError(
            f"workspace {namespace}/{name} not ready after {timeout}s\n"
            + describe_workspace(plane, seen[0], namespace)
        ) from None


def describe_workspace(plane: ControlPlane, ws: dict[str, Any] | None, namespace: str) -> str:
    """The Workspace's conditions and its namespace's pods, one line each, for a failure."""
    lines = [
        f"  {c.get('type')}={c.get('status')} {c.get('reason')}: {c.get('message')}"
        for c in ((ws or {}).get("status") or {}).get("conditions") or []
    ] or ["  (no conditions)"]
    claims = get_json(plane, "nodeclaims") or {}
    for claim in claims.get("items") or []:
        conds = ((claim.get("status") or {}).get("conditions")) or []
        said = ", ".join(
            f"{c.get('type')}={c.get('status')} {c.get('message') or ''}" for c in conds
        )
        lines.append(f"  nodeclaim {claim['metadata']['name']}: {said or '(no conditions)'}")
    pods = get_json(plane, "pods", "-n", namespace) or {}
    for pod in pods.get("items") or []:
        status = pod.get("status") or {}
        lines.append(f"  pod {pod['metadata']['name']}: {status.get('phase')}")
        for cs in [
            *(status.get("initContainerStatuses") or []),
            *(status.get("containerStatuses") or []),
        ]:
            lines.append(
                f"    {cs.get('name')}: ready={cs.get('ready')} restarts={cs.get('restartCount')}"
                f" state={json.dumps(cs.get('state'))} last={json.dumps(cs.get('lastState'))}"
            )
    return "\n".join(lines)


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
