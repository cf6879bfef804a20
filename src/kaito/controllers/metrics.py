"""kaito's own metrics, computed at scrape time from the informer cache.

``kaito_workspace_count{phase}`` (succeeded / error / pending / deleting, upstream's phases)
and ``kaito_workspace_preset_count{preset_name}``. Read from the cache on each scrape, so
they are always consistent with what the controller sees and cost nothing between scrapes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from kaito.api import constants as c
from kaito.controllers.status import POD_FAILURE_REASONS
from kaito.runtime.informer import CacheNotSynced

PHASES = ("succeeded", "error", "pending", "deleting")


def phase_of(ws: dict[str, Any]) -> str:
    if (ws.get("metadata") or {}).get("deletionTimestamp"):
        return "deleting"
    for cond in (ws.get("status") or {}).get("conditions") or []:
        if cond.get("type") != c.CONDITION_WORKSPACE_SUCCEEDED:
            continue
        if cond.get("status") == "True":
            return "succeeded"
        if cond.get("reason") in (
            c.REASON_WORKSPACE_FAILED,
            c.REASON_INVALID_SPEC,
            *POD_FAILURE_REASONS,
        ):
            return "error"
    return "pending"


def preset_of(ws: dict[str, Any]) -> str | None:
    for section in ("inference", "tuning"):
        preset = (ws.get(section) or {}).get("preset") or {}
        if preset.get("name"):
            return str(preset["name"])
    return None


class WorkspaceCollector(Collector):
    """Counts cached Workspaces by phase and by preset."""

    def __init__(self, workspaces: Callable[[], Sequence[dict[str, Any]]]) -> None:
        self._workspaces = workspaces

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            items = list(self._workspaces())
        except CacheNotSynced:  # scraped (or registered) before the informer's first list
            items = []
        phases = Counter(phase_of(ws) for ws in items)
        by_phase = GaugeMetricFamily(
            "kaito_workspace_count", "Number of Workspaces by phase", labels=["phase"]
        )
        for phase in PHASES:
            by_phase.add_metric([phase], phases.get(phase, 0))
        yield by_phase
        presets = Counter(p for ws in items if (p := preset_of(ws)))
        by_preset = GaugeMetricFamily(
            "kaito_workspace_preset_count", "Number of Workspaces by preset", labels=["preset_name"]
        )
        for name, count in sorted(presets.items()):
            by_preset.add_metric([name], count)
        yield by_preset
