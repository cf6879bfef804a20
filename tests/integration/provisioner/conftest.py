"""Fixtures for the NodeClaim reconciler tests: kaito's CRDs, a client, the simulated AKS with
its Nodes in the real control plane, and the reconciler running inside a real Manager."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kaito import kinds
from kaito.provisioner.cloud.azure import AzureProvider
from kaito.provisioner.cloud.azure_settings import AzureSettings
from kaito.provisioner.cloud.base import CloudProvider
from kaito.provisioner.nodeclaim import NodeClaimReconciler
from kaito.provisioner.setup import nodeclaim_controller
from kaito.runtime import resources as r
from kaito.runtime.client import Client, ClientConfig
from kaito.runtime.errors import NotFound
from kaito.runtime.events import EventRecorder
from kaito.runtime.manager import Manager
from kaito.testenv import ControlPlane
from tests.support.aks_sim import AksSimulator, KubeNodeHooks, StaticTokenCredential
from tests.support.waiting import async_wait_until

REPO = Path(__file__).resolve().parents[3]
NC6 = "Standard_NC6s_v3"
TEST_LABEL = "test.kaito.sh/provisioner"
"""Marks the NodeClaims these tests create, so a failed test's leftovers can be removed."""


@pytest.fixture(scope="session")
def crds(control_plane: ControlPlane) -> None:
    control_plane.kubectl("apply", "--server-side", "-k", str(REPO / "manifests" / "crd"))
    control_plane.kubectl(
        "wait",
        "--for=condition=Established",
        "crd/workspaces.kaito.sh",
        "crd/nodeclaims.karpenter.sh",
        "--timeout=60s",
    )
    # Established is not yet servable: the first requests may get 429 "storage is
    # (re)initializing" for a moment.
    deadline = time.monotonic() + 30
    while control_plane.kubectl("get", "nodeclaims,workspaces", "-A", check=False).returncode:
        assert time.monotonic() < deadline, "the NodeClaim and Workspace APIs never served"
        time.sleep(0.2)


@pytest.fixture
async def client(control_plane: ControlPlane, crds: None) -> AsyncIterator[Client]:
    """A client; afterwards the NodeClaims the test left behind (a failure stopped it before
    deleting them) lose their finalizer and go, so no later test meets them."""
    async with await Client.from_kubeconfig(
        control_plane.kubeconfig, config=ClientConfig(qps=0)
    ) as c:
        yield c
        for claim in (await c.list(kinds.NODECLAIM, label_selector=TEST_LABEL)).items:
            name = claim["metadata"]["name"]
            with contextlib.suppress(NotFound):
                await c.patch(kinds.NODECLAIM, name, {"metadata": {"finalizers": None}})
                await c.delete(kinds.NODECLAIM, name)


@pytest.fixture
async def aks(
    tmp_path: Path, control_plane: ControlPlane
) -> AsyncIterator[tuple[AksSimulator, KubeNodeHooks]]:
    """The simulated AKS endpoint; a pool that finishes creating registers its Node."""
    async with KubeNodeHooks(control_plane.kubeconfig) as hooks:
        simulator = AksSimulator(
            tmp_path / "aks",
            on_pool_ready=hooks.on_pool_ready,
            on_pool_deleted=hooks.on_pool_deleted,
        )
        async with simulator:
            yield simulator, hooks


def azure_provider(sim: AksSimulator, hooks: KubeNodeHooks, **kwargs: Any) -> AzureProvider:
    """The real Azure provider against the simulator, finding Nodes in the control plane."""
    settings = AzureSettings(
        subscription_id=sim.subscription_id,
        resource_group=sim.resource_group,
        cluster_name=sim.cluster_name,
        location=sim.location,
    )
    options: dict[str, Any] = {
        "credential": StaticTokenCredential(),
        "base_url": sim.base_url,
        "nodes": hooks.node_lister(),
        "poll_interval": 0.1,
        "adopt_timeout": 30,
        **sim.client_kwargs(),
        **kwargs,
    }
    return AzureProvider.from_settings(settings, **options)


def claim_name() -> str:
    """A fresh NodeClaim (and agent pool) name: ``^[a-z][a-z0-9]{0,11}$``."""
    return "nc" + uuid.uuid4().hex[:10]


def nodeclaim(
    name: str, *, instance_type: str = NC6, storage: str = "100Gi", workspace: str = "falcon"
) -> dict[str, Any]:
    """A NodeClaim as the workspace controller writes it."""
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodeClaim",
        "metadata": {
            "name": name,
            "labels": {
                TEST_LABEL: "true",
                "karpenter.sh/nodepool": "kaito",
                "kaito.sh/workspace": workspace,
                "kaito.sh/workspacenamespace": "default",
            },
            "annotations": {"kaito.sh/node-image-family": "ubuntu"},
        },
        "spec": {
            "nodeClassRef": {"group": "kaito.sh", "kind": "KaitoNodeClass", "name": "default"},
            "taints": [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}],
            "requirements": [
                {"key": "karpenter.sh/nodepool", "operator": "In", "values": ["kaito"]},
                {
                    "key": "node.kubernetes.io/instance-type",
                    "operator": "In",
                    "values": [instance_type],
                },
                {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
            ],
            "resources": {"requests": {"storage": storage}},
        },
    }


def condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            found: dict[str, Any] = cond
            return found
    return None


def is_true(obj: dict[str, Any] | None, kind: str) -> bool:
    cond = condition(obj, kind)
    return cond is not None and cond.get("status") == "True"


async def get_or_none(client: Client, rt: r.ResourceType, name: str) -> dict[str, Any] | None:
    try:
        return await client.get(rt, name)
    except NotFound:
        return None


async def wait_ready(client: Client, name: str, timeout: float = 30) -> dict[str, Any]:
    async def ready() -> dict[str, Any] | None:
        claim = await get_or_none(client, kinds.NODECLAIM, name)
        return claim if is_true(claim, "Ready") else None

    return await async_wait_until(ready, timeout=timeout, interval=0.1, what=f"{name} Ready")


async def wait_gone(client: Client, rt: r.ResourceType, name: str, timeout: float = 30) -> None:
    async def gone() -> bool:
        return await get_or_none(client, rt, name) is None

    await async_wait_until(gone, timeout=timeout, interval=0.1, what=f"{rt.kind} {name} gone")


async def delete_and_wait(client: Client, name: str) -> None:
    """Delete a NodeClaim (while a provisioner runs) and wait until its finalizer let it go."""
    with contextlib.suppress(NotFound):
        await client.delete(kinds.NODECLAIM, name)
    await wait_gone(client, kinds.NODECLAIM, name)


@contextlib.asynccontextmanager
async def running_provisioner(
    client: Client, provider: CloudProvider
) -> AsyncIterator[tuple[Manager, NodeClaimReconciler]]:
    """The NodeClaim controller in a real Manager (informers, work queue, workers, /metrics),
    as ``kaito provisioner`` wires it, minus leader election and the process."""
    manager = Manager(
        client,
        metrics_address="127.0.0.1:0",
        health_address=None,
        graceful_shutdown_timeout=10,
    )
    recorder = EventRecorder(client, component="kaito-provisioner")
    reconciler = NodeClaimReconciler(client, manager.cache, provider, recorder=recorder)
    manager.add(nodeclaim_controller(reconciler, workers=4))
    task = asyncio.ensure_future(manager.run(handle_signals=False))
    try:
        await asyncio.wait_for(manager.elected.wait(), 30)
        await manager.cache.wait_for_sync(30)
        yield manager, reconciler
    finally:
        manager.stop()
        await asyncio.wait_for(task, 30)
