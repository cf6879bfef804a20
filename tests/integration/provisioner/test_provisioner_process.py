"""``kaito provisioner --provider=azure`` as a real process against the simulated AKS (pointed
there by ``KAITO_AZURE_BASE_URL``, ``KAITO_AZURE_CA_BUNDLE`` and ``KAITO_AZURE_ACCESS_TOKEN``):
killed with SIGKILL in the middle of a slow create, its successor adopts the pool; and with
``kaito manager`` beside it, a quota refusal reaches the Workspace's ResourceReady condition.

The simulator runs in this test's event loop, so every blocking call (starting and stopping
processes, kubectl) goes through ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kaito import kinds
from kaito.runtime.client import Client
from kaito.testenv import ControlPlane
from tests.e2e.conftest import OperatorProcess
from tests.integration.provisioner.conftest import (
    claim_name,
    condition,
    delete_and_wait,
    nodeclaim,
    wait_ready,
)
from tests.support.aks_sim import AksSimulator, KubeNodeHooks
from tests.support.waiting import async_wait_until, get_json

Aks = tuple[AksSimulator, KubeNodeHooks]


@pytest.fixture
def azure_env(aks: Aks, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The environment ``kaito provisioner --provider=azure`` reads, aimed at the simulator."""
    sim, _ = aks
    for key, value in {
        "ARM_SUBSCRIPTION_ID": sim.subscription_id,
        "ARM_RESOURCE_GROUP": sim.resource_group,
        "AZURE_CLUSTER_NAME": sim.cluster_name,
        "LOCATION": sim.location,
        "KAITO_AZURE_BASE_URL": sim.base_url,
        "KAITO_AZURE_CA_BUNDLE": str(sim.ca_file),
        "KAITO_AZURE_ACCESS_TOKEN": "sim-token",
    }.items():
        monkeypatch.setenv(key, value)
    yield


class Processes:
    """Operator processes started by one test, stopped (or already killed) at its end."""

    def __init__(self, plane: ControlPlane, log_dir: Path) -> None:
        self.kubeconfig = f"--kubeconfig={plane.kubeconfig}"
        self.log_dir = log_dir
        self.started: list[OperatorProcess] = []

    async def provisioner(self, name: str = "provisioner") -> OperatorProcess:
        args = ["provisioner", self.kubeconfig, "--provider=azure", "--poll-interval=0.2"]
        return await self._start(OperatorProcess(name, args, self.log_dir))

    async def manager(self) -> OperatorProcess:
        args = ["manager", self.kubeconfig, "--disable-webhook", "--sync-period=20s"]
        return await self._start(OperatorProcess("manager", args, self.log_dir))

    async def _start(self, proc: OperatorProcess) -> OperatorProcess:
        self.started.append(proc)
        await asyncio.to_thread(proc.start)
        return proc

    async def stop(self) -> None:
        for proc in reversed(self.started):
            await asyncio.to_thread(proc.stop)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.log_tail()}" for p in self.started)


@pytest.fixture
async def processes(
    control_plane: ControlPlane, azure_env: None, tmp_path: Path
) -> AsyncIterator[Processes]:
    procs = Processes(control_plane, tmp_path)
    try:
        yield procs
    finally:
        await procs.stop()


def metric(proc: OperatorProcess, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(proc.metrics()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


async def test_sigkill_during_a_slow_create_then_restart_adopts_the_pool(
    aks: Aks, client: Client, processes: Processes
) -> None:
    sim, _ = aks
    sim.create_delay = 4.0
    name = claim_name()
    first = await processes.provisioner("provisioner-1")
    await client.create(kinds.NODECLAIM, nodeclaim(name))

    async def creating() -> bool:
        pool = sim.pools.get(name)
        return pool is not None and pool.state == "Creating"

    await async_wait_until(creating, timeout=30, interval=0.05, what="the create to be accepted")
    await asyncio.to_thread(first.kill)  # SIGKILL: no cleanup, mid-operation
    assert first.proc is not None and first.proc.returncode == -9
    assert sim.pools[name].state == "Creating"

    second = await processes.provisioner("provisioner-2")
    # Still being created when the successor is up: what it does next is adopt, not create.
    assert sim.pools[name].state == "Creating"
    try:
        claim = await wait_ready(client, name, timeout=40)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{processes.logs()}") from None

    assert [pool for pool in sim.pools] == [name]  # exactly one agent pool
    assert sim.count("PUT", name) == 1  # adopted, never created twice
    assert claim["status"]["nodeName"] == sim.pools[name].node_name
    assert claim["status"]["providerID"] == sim.pools[name].provider_id
    created = metric(
        second, "kaito_provisioner_cloud_requests_total", method="create", result="success"
    )
    assert created == 1
    assert metric(second, "kaito_provisioner_nodeclaims", state="ready") >= 1

    await delete_and_wait(client, name)
    assert sim.pools == {}
    assert (
        metric(second, "kaito_provisioner_cloud_requests_total", method="delete", result="success")
        == 1
    )


def _workspace(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "kaito.sh/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": name},
        "resource": {
            "instanceType": "Standard_NC24ads_A100_v4",
            "labelSelector": {"matchLabels": {"apps": name}},
        },
        "inference": {"preset": {"name": "phi-3-mini-4k-instruct"}},
    }


async def test_quota_refusal_reaches_the_workspace_resource_ready_condition(
    aks: Aks, control_plane: ControlPlane, namespace: str, processes: Processes
) -> None:
    sim, _ = aks
    message = sim.quota_exceeded_next()
    await processes.provisioner()
    await processes.manager()
    name = "quota-ws"
    manifest = _workspace(name)

    def kubectl(*args: str, stdin: str | None = None) -> str:
        return control_plane.kubectl(*args, input=stdin).stdout

    await asyncio.to_thread(
        kubectl, "apply", "-n", namespace, "-f", "-", stdin=json.dumps(manifest)
    )

    async def refused() -> dict[str, Any] | None:
        ws = await asyncio.to_thread(get_json, control_plane, "workspace", name, "-n", namespace)
        cond = condition(ws, "ResourceReady")
        return ws if cond is not None and cond.get("reason") == "QuotaExceeded" else None

    try:
        ws = await async_wait_until(refused, timeout=45, interval=0.3, what="ResourceReady")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{processes.logs()}") from None
    cond = condition(ws, "ResourceReady")
    assert cond is not None
    assert cond["status"] == "False"
    claims = await asyncio.to_thread(
        get_json, control_plane, "nodeclaims", "-l", f"kaito.sh/workspace={name}"
    )
    assert claims is not None
    [claim] = claims["items"]
    claim_name_ = claim["metadata"]["name"]
    launched = condition(claim, "Launched")
    assert launched is not None
    assert (launched["status"], launched["reason"], launched["message"]) == (
        "False",
        "QuotaExceeded",
        message,
    )
    # The workspace shows the cloud's own words, whole (quota family and numbers included).
    assert cond["message"] == f"NodeClaim {claim_name_} Launched=False: {message}"
    assert "Additional Required: 24" in cond["message"]
    assert sim.count("PUT", claim_name_) == 1
    assert sim.pools == {}

    await asyncio.to_thread(kubectl, "delete", "workspace", name, "-n", namespace, "--timeout=60s")

    async def claims_gone() -> bool:
        listed = await asyncio.to_thread(
            get_json, control_plane, "nodeclaims", "-l", f"kaito.sh/workspace={name}"
        )
        return listed is not None and not listed["items"]

    await async_wait_until(claims_gone, timeout=30, interval=0.3, what="NodeClaims deleted")
    assert sim.count("PUT", claim_name_) == 1
