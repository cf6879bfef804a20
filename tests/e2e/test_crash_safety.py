"""kill -9 the manager at random points while 20 Workspaces provision; restart it each time.

In the end every Workspace is ready and there is exactly one NodeClaim per needed node:
none duplicated (deterministic names) and none orphaned. Then a forced resync of the
steady state makes zero write requests (``rest_client_requests_total``).
"""

from __future__ import annotations

import copy
import random
import re
import time
from collections.abc import Iterator

import pytest

from kaito.testenv import ControlPlane
from tests.e2e.conftest import Operator, install_crds
from tests.e2e.helpers import apply_workspace, nodeclaims_of, sample, wait_ready
from tests.support.waiting import get_json, wait_until

COUNT = 20
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


@pytest.fixture
def crash_operator(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    """A dedicated manager (resync every 5 s) so the shared one is not killed."""
    install_crds(control_plane)
    op = Operator(
        control_plane,
        tmp_path_factory.mktemp("crash"),
        ["--sync-period=5s", "--disable-webhook"],
    )
    op.start()
    try:
        yield op
    finally:
        op.stop()


def _writes(metrics: str) -> float:
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("rest_client_requests_total{") and any(
            f'method="{m}"' in line for m in WRITE_METHODS
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _reconciles(metrics: str) -> float:
    pattern = re.compile(r'^controller_runtime_reconcile_total\{controller="workspace".*\} (\S+)$')
    return sum(float(m.group(1)) for line in metrics.splitlines() if (m := pattern.match(line)))


def test_manager_crashes_never_duplicate_or_orphan_nodes(
    crash_operator: Operator, control_plane: ControlPlane, namespace: str
) -> None:
    base = sample("workspace-phi-3-mini.yaml")
    names = []
    for i in range(COUNT):
        ws = copy.deepcopy(base)
        ws["metadata"]["name"] = f"ws-crash-{i:02d}"
        ws["resource"]["labelSelector"]["matchLabels"] = {"apps": f"crash-{i:02d}"}
        names.append(ws["metadata"]["name"])
        apply_workspace(control_plane, ws, namespace)

    rng = random.Random(7)
    for _ in range(6):
        time.sleep(rng.uniform(0.2, 2.5))
        crash_operator.manager.kill()
        crash_operator.manager.start()

    for name in names:
        wait_ready(control_plane, name, namespace, timeout=240)

    all_claims = get_json(control_plane, "nodeclaims")["items"]
    ours = [
        c
        for c in all_claims
        if c["metadata"]["labels"].get("kaito.sh/workspacenamespace") == namespace
    ]
    per_workspace = {name: len(nodeclaims_of(control_plane, name, namespace)) for name in names}
    assert per_workspace == dict.fromkeys(names, 1)
    assert len(ours) == COUNT
    nodes = {c["status"]["nodeName"] for c in ours}
    assert len(nodes) == COUNT
    for node in nodes:
        assert get_json(control_plane, "node", node) is not None

    # Steady state: resyncs (every 5 s) reconcile every Workspace again and write nothing.
    # Barrier: a full resync round (COUNT more reconciles), then compare the writes.
    first = crash_operator.manager.metrics()
    second = wait_until(
        lambda: (
            (m := crash_operator.manager.metrics())
            and (m if _reconciles(m) >= _reconciles(first) + COUNT else None)
        ),
        timeout=60,
        what="a resync of every Workspace",
    )
    assert _writes(second) == _writes(first)

    control_plane.kubectl("delete", "workspaces", "--all", "-n", namespace, "--timeout=180s")
    wait_until(
        lambda: (
            not [
                c
                for c in get_json(control_plane, "nodeclaims")["items"]
                if c["metadata"]["labels"].get("kaito.sh/workspacenamespace") == namespace
            ]
        ),
        timeout=120,
        what="all NodeClaims of the namespace deleted",
    )
