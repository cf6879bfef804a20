"""kaito_workspace_count{phase} and kaito_workspace_preset_count{preset_name}."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from kaito.controllers.metrics import WorkspaceCollector
from kaito.runtime.informer import CacheNotSynced


def ws(name: str, preset: str, status: str | None = None, reason: str = "", **meta: Any) -> dict:
    conditions = (
        []
        if status is None
        else [{"type": "WorkspaceSucceeded", "status": status, "reason": reason}]
    )
    return {
        "metadata": {"name": name, **meta},
        "inference": {"preset": {"name": preset}},
        "status": {"conditions": conditions},
    }


def test_counts_by_phase_and_preset() -> None:
    items = [
        ws("a", "phi-3-mini-4k-instruct", "True", "workspaceSucceeded"),
        ws("b", "phi-3-mini-4k-instruct", "False", "ImagePullError"),
        ws("c", "falcon-7b", "False", "workspacePending"),
        ws("d", "falcon-7b", None, deletionTimestamp="2026-01-01T00:00:00Z"),
    ]
    registry = CollectorRegistry()
    registry.register(WorkspaceCollector(lambda: items))
    text = generate_latest(registry).decode()
    for phase in ("succeeded", "error", "pending", "deleting"):
        assert f'kaito_workspace_count{{phase="{phase}"}} 1.0' in text
    assert 'kaito_workspace_preset_count{preset_name="phi-3-mini-4k-instruct"} 2.0' in text
    assert 'kaito_workspace_preset_count{preset_name="falcon-7b"} 2.0' in text


def test_unsynced_cache_reports_zero_instead_of_failing() -> None:
    def unsynced() -> list[dict]:
        raise CacheNotSynced("not yet")

    registry = CollectorRegistry()
    registry.register(WorkspaceCollector(unsynced))
    assert 'kaito_workspace_count{phase="pending"} 0.0' in generate_latest(registry).decode()
