"""``kaito status`` names the stage a Workspace is stuck at and what to do."""

from __future__ import annotations

from typing import Any

from kaito.controllers.explain import diagnose


def ws(conditions: list[dict[str, str]], **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "phi", "namespace": "default", **extra.pop("metadata", {})},
        "status": {"conditions": conditions},
        **extra,
    }


def cond(kind: str, status: str, reason: str = "", message: str = "") -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": message}


def test_stuck_on_quota() -> None:
    claim = {
        "metadata": {"name": "ws1"},
        "status": {
            "conditions": [
                cond("Launched", "False", "QuotaExceeded", "exceeds approved NCSv3 quota")
            ]
        },
    }
    got = diagnose(
        ws([cond("ResourceReady", "False", "QuotaExceeded", "NodeClaim ws1 Launched=False")]),
        [claim],
        [],
        None,
        [],
    )
    assert got.stage == "nodes"
    assert "exceeds approved NCSv3 quota" in got.render()
    assert got.advice is not None and "quota" in got.advice


def test_stuck_waiting_for_nodeclaims() -> None:
    got = diagnose(
        ws([cond("ResourceReady", "False", "NodeClaimNotReady", "1/0")]), [], [], None, []
    )
    assert got.stage == "nodes"
    assert "no NodeClaims yet" in got.details


def test_stuck_on_image_pull() -> None:
    pod = {
        "metadata": {"name": "phi-abc"},
        "status": {
            "containerStatuses": [
                {"name": "phi", "image": "x:1", "state": {"waiting": {"reason": "ErrImagePull"}}}
            ]
        },
    }
    workload = {
        "kind": "Deployment",
        "metadata": {"name": "phi"},
        "spec": {"replicas": 1},
        "status": {"readyReplicas": 0},
    }
    got = diagnose(
        ws([cond("ResourceReady", "True"), cond("InferenceReady", "False", "ImagePullError")]),
        [],
        [],
        workload,
        [pod],
    )
    assert got.stage == "workload"
    assert any("ImagePullError" in line for line in got.details)
    assert got.advice is not None and "imagePullSecret" in got.advice


def test_ready_and_deleting_and_invalid() -> None:
    ready = diagnose(
        ws(
            [
                cond("ResourceReady", "True"),
                cond("InferenceReady", "True"),
                cond("WorkspaceSucceeded", "True"),
            ]
        ),
        [],
        [{"metadata": {"name": "n1"}}],
        None,
        [],
    )
    assert ready.stage == "ready"
    deleting = diagnose(
        ws([], metadata={"deletionTimestamp": "2026-01-01T00:00:00Z"}),
        [{"metadata": {"name": "ws1"}}],
        [],
        None,
        [],
    )
    assert deleting.stage == "deleting"
    assert "ws1" in deleting.render()
    invalid = diagnose(
        ws([cond("WorkspaceSucceeded", "False", "InvalidSpec", "bad preset")]), [], [], None, []
    )
    assert invalid.stage == "invalid"
    assert "bad preset" in invalid.render()
