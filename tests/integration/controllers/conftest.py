"""Fixtures for the Workspace reconciler running inside a real Manager.

:func:`workspace_reconciler` is the one place the tests construct a
:class:`~kaito.controllers.workspace.WorkspaceReconciler` (as ``kaito manager`` does), and
:func:`running_workspace_controller` runs it the way ``kaito manager`` wires it (informers,
work queue, workers, the Event writer, /metrics), minus leader election, the webhook and the
process. No provisioner runs: NodeClaims stay unlaunched, and a finalizer on one stays
until the test removes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from kaito import kinds
from kaito.api import constants as c
from kaito.controllers.cache_options import BY_OBJECT
from kaito.controllers.settings import Settings
from kaito.controllers.setup import workspace_controller
from kaito.controllers.workspace import WorkspaceReconciler
from kaito.presets import default_catalog
from kaito.runtime import resources as r
from kaito.runtime.cache import InformerCache
from kaito.runtime.client import Client, ClientConfig
from kaito.runtime.errors import NotFound
from kaito.runtime.events import EventRecorder
from kaito.runtime.manager import Manager
from kaito.testenv import ControlPlane
from tests.support.kwok_nodes import gpu_node
from tests.support.waiting import async_wait_until

REPO = Path(__file__).resolve().parents[3]
TEST_NODE_LABEL = "test.kaito.sh/workspace-branches"
"""Marks the Nodes these tests create (cluster-scoped: removed after each test)."""
COMPONENT = "kaito-workspace"
NC6 = "Standard_NC6s_v3"
"""A GPU instance type the template Workspaces ask for (one V100)."""


def workspace_reconciler(
    client: Client, cache: InformerCache, *, settings: Settings, recorder: EventRecorder
) -> WorkspaceReconciler:
    """The reconciler as ``kaito manager`` builds it (the only constructor call here)."""
    return WorkspaceReconciler(
        client, cache, settings=settings, catalog=default_catalog(), recorder=recorder
    )


@contextlib.asynccontextmanager
async def running_workspace_controller(
    client: Client, settings: Settings
) -> AsyncIterator[Manager]:
    """The Workspace controller in a real Manager, started and synced; stopped on exit."""
    manager = Manager(
        client,
        metrics_address="127.0.0.1:0",
        health_address=None,
        graceful_shutdown_timeout=10,
        cache_by_object=BY_OBJECT,
    )
    recorder = EventRecorder(client, component=COMPONENT)
    manager.add_runnable(recorder.run)
    reconciler = workspace_reconciler(
        manager.client, manager.cache, settings=settings, recorder=recorder
    )
    manager.add(workspace_controller(reconciler, workers=2))
    task = asyncio.ensure_future(manager.run(handle_signals=False))
    try:
        await asyncio.wait_for(manager.elected.wait(), 30)
        await manager.cache.wait_for_sync(30)
        yield manager
    finally:
        manager.stop()
        await asyncio.wait_for(task, 30)


@attrs.define
class Cluster:
    """The test's namespace in the real control plane, and what it puts there."""

    client: Client
    namespace: str
    nodes: list[str] = attrs.field(factory=list)

    @staticmethod
    def settings(**overrides: Any) -> Settings:
        """:class:`Settings` with kaito's runtime contract unless told otherwise (then
        ``resource.count`` decides the node count)."""
        return Settings(**{"runtime_contract": c.CONTRACT_KAITO, "status_hold": 0.0, **overrides})

    def controller(self, **settings: Any) -> contextlib.AbstractAsyncContextManager[Manager]:
        """The Workspace controller in a running Manager, with :meth:`settings`."""
        return running_workspace_controller(self.client, self.settings(**settings))

    async def ready_nodes(self, count: int, labels: dict[str, str], *, gpus: int = 1) -> list[str]:
        """``count`` GPU Nodes with ``labels`` that kwok keeps Ready; returns once Ready.

        A BYO node becoming Ready does not enqueue a Workspace (only nodes labelled with a
        Workspace do), so tests create them Ready before the Workspace."""
        names = [f"{self.namespace}-n{i}"[:63] for i in range(count)]
        for name in names:
            node = gpu_node(name, gpus=gpus, labels={TEST_NODE_LABEL: "true", **labels})
            await self.client.create(r.NODE, node)
            self.nodes.append(name)

        async def all_ready() -> bool:
            for name in names:
                node = await self.client.get(r.NODE, name)
                conds = (node.get("status") or {}).get("conditions") or []
                if not any(x["type"] == "Ready" and x["status"] == "True" for x in conds):
                    return False
            return True

        await async_wait_until(all_ready, timeout=60, interval=0.1, what=f"nodes {names} Ready")
        return names

    async def create_workspace(self, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "apiVersion": kinds.WORKSPACE.api_version}
        body["metadata"] = {**body["metadata"], "namespace": self.namespace}
        return await self.client.create(kinds.WORKSPACE, body, self.namespace)

    async def workspace(self, name: str) -> dict[str, Any] | None:
        try:
            return await self.client.get(kinds.WORKSPACE, name, self.namespace)
        except NotFound:
            return None

    async def nodeclaims(self, workspace: str) -> list[dict[str, Any]]:
        selector = f"{c.LABEL_WORKSPACE}={workspace},{c.LABEL_WORKSPACE_NAMESPACE}={self.namespace}"
        return (await self.client.list(kinds.NODECLAIM, label_selector=selector)).items

    async def events(self, involved: str, reason: str) -> list[dict[str, Any]]:
        found = (await self.client.list(r.EVENT, self.namespace)).items
        return [
            e
            for e in found
            if e.get("reason") == reason and (e.get("involvedObject") or {}).get("name") == involved
        ]

    async def cleanup(self) -> None:
        """Remove what a test (or its failure) left, finalizers first, and wait until the
        Workspaces are gone: a later test's manager watches every namespace and would
        otherwise reconcile them (the namespace is deleted without waiting)."""
        names = [
            ws["metadata"]["name"]
            for ws in (await self.client.list(kinds.WORKSPACE, self.namespace)).items
        ]
        for name in names:
            with contextlib.suppress(NotFound):
                await self.client.patch(
                    kinds.WORKSPACE, name, {"metadata": {"finalizers": None}}, self.namespace
                )
                await self.client.delete(kinds.WORKSPACE, name, self.namespace)

        async def workspaces_gone() -> bool:
            left = await self.client.list(kinds.WORKSPACE, self.namespace)
            return not left.items

        await async_wait_until(workspaces_gone, timeout=30, interval=0.1, what="Workspaces gone")
        selector = f"{c.LABEL_WORKSPACE_NAMESPACE}={self.namespace}"
        for claim in (await self.client.list(kinds.NODECLAIM, label_selector=selector)).items:
            name = claim["metadata"]["name"]
            with contextlib.suppress(NotFound):
                await self.client.patch(kinds.NODECLAIM, name, {"metadata": {"finalizers": None}})
                await self.client.delete(kinds.NODECLAIM, name)
        for name in self.nodes:
            with contextlib.suppress(NotFound):
                await self.client.delete(r.NODE, name)


@pytest.fixture(scope="session")
def workspace_crds(control_plane: ControlPlane) -> None:
    """kaito's CRDs, installed and served. A freshly started (or busy) API server may refuse
    the first tries, and Established is not yet servable (429 "storage is (re)initializing"
    for a moment), so this retries until both kinds can be listed."""
    crds = str(REPO / "manifests" / "crd")
    deadline = time.monotonic() + 90
    while True:
        applied = control_plane.kubectl("apply", "--server-side", "-k", crds, check=False)
        served = applied.returncode == 0 and not (
            control_plane.kubectl("get", "nodeclaims,workspaces", "-A", check=False).returncode
        )
        if served:
            return
        assert time.monotonic() < deadline, f"kaito's CRDs never served: {applied.stderr}"
        time.sleep(0.5)


@pytest.fixture
async def cluster(
    control_plane: ControlPlane, workspace_crds: None, namespace: str
) -> AsyncIterator[Cluster]:
    async with await Client.from_kubeconfig(
        control_plane.kubeconfig, config=ClientConfig(qps=0)
    ) as client:
        env = Cluster(client, namespace)
        try:
            yield env
        finally:
            await env.cleanup()


def template_workspace(name: str, selector: str, image: str) -> dict[str, Any]:
    """A Workspace whose inference is a custom template: one GPU container, ``image``."""
    return {
        "metadata": {"name": name},
        "resource": {
            "instanceType": NC6,
            "labelSelector": {"matchLabels": {"apps": selector}},
        },
        "inference": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "server",
                            "image": image,
                            "ports": [{"containerPort": 5000}],
                            "resources": {
                                "requests": {"nvidia.com/gpu": 1},
                                "limits": {"nvidia.com/gpu": 1},
                            },
                        }
                    ]
                }
            }
        },
    }
