"""The Azure provider runs the real ``azure-mgmt-containerservice`` SDK (HTTP pipeline, retry
policy, ARM long-running-operation polling, paging) against the simulated AKS endpoint of
``tests/support/aks_sim.py``; the last tests also register the pools' Nodes in the real local
control plane and find them again the way upstream's gpu-provisioner does."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kaito.provisioner.cloud import (
    InstanceNotFound,
    InstanceRequest,
    InstanceState,
    InvalidRequest,
    QuotaExceeded,
    SkuUnavailable,
    Taint,
    Throttled,
    TransientError,
)
from kaito.provisioner.cloud.azure import AzureProvider
from kaito.provisioner.cloud.azure_nodes import pool_from_provider_id
from kaito.provisioner.cloud.azure_settings import AzureSettings
from kaito.testenv import ControlPlane
from tests.support.aks_sim import AksSimulator, Fault, KubeNodeHooks, StaticTokenCredential
from tests.support.waiting import async_wait_until, condition, get_json

GPU_SKU = "Standard_NC24ads_A100_v4"


def request(name: str = "ws1", **kwargs: Any) -> InstanceRequest:
    defaults: dict[str, Any] = {
        "instance_type": GPU_SKU,
        "labels": {"kaito.sh/workspace": "falcon", "kaito.sh/workspacenamespace": "default"},
        "taints": [Taint("sku", "gpu")],
        "os_disk_size_gb": 1024,
    }
    return InstanceRequest(name, **{**defaults, **kwargs})


def make_provider(sim: AksSimulator, **kwargs: Any) -> AzureProvider:
    settings = AzureSettings(
        subscription_id=sim.subscription_id,
        resource_group=sim.resource_group,
        cluster_name=sim.cluster_name,
        location=sim.location,
    )
    options: dict[str, Any] = {
        "credential": StaticTokenCredential(),
        "base_url": sim.base_url,
        "poll_interval": 0.05,
        "adopt_timeout": 30,
        **sim.client_kwargs(),
        **kwargs,
    }
    return AzureProvider.from_settings(settings, **options)


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[AksSimulator]:
    async with AksSimulator(tmp_path / "aks") as simulator:
        yield simulator


@pytest.fixture
async def provider(sim: AksSimulator) -> AsyncIterator[AzureProvider]:
    async with make_provider(sim) as azure:
        yield azure


# -- the happy path ------------------------------------------------------------------------


async def test_create_puts_one_pool_and_waits_for_succeeded(
    sim: AksSimulator, provider: AzureProvider
) -> None:
    instance = await provider.create(request(image_family="azurelinux"))

    assert instance.state is InstanceState.RUNNING
    assert instance.name == "ws1"
    assert instance.instance_type == GPU_SKU
    assert instance.provider_id.endswith("/managedClusters/kaito-aks/agentPools/ws1")
    assert instance.node_name is None  # no Node lister configured
    assert instance.created_at is not None
    assert instance.image_id == "AKSAzureLinux-202501.01.0"

    pool = sim.pools["ws1"]
    assert pool.state == "Succeeded"
    assert pool.properties["count"] == 1
    assert pool.properties["vmSize"] == GPU_SKU
    assert pool.properties["osSKU"] == "AzureLinux"
    assert pool.properties["osDiskSizeGB"] == 1024
    assert pool.properties["type"] == "VirtualMachineScaleSets"
    assert pool.properties["nodeTaints"] == ["sku=gpu:NoSchedule"]
    assert pool.properties["tags"] == {"kaito-managed": "true"}
    labels = pool.node_labels
    assert labels["kaito.sh/workspace"] == "falcon"
    assert labels["karpenter.sh/nodepool"] == "kaito"
    assert labels["kaito.sh/machine-type"] == "gpu"
    assert "kaito.sh/creation-timestamp" in labels
    assert sim.count("PUT", "ws1") == 1
    # The SDK polled the Azure-AsyncOperation document rather than the pool.
    assert any("/operations/" in r.path for r in sim.requests)


async def test_get_list_and_delete(sim: AksSimulator, provider: AzureProvider) -> None:
    await provider.create(request("ws1"))
    await provider.create(request("ws2", instance_type="Standard_NC6s_v3"))
    await sim.add_pool("nodepool1", {"vmSize": "Standard_D4s_v3", "mode": "System"})
    await sim.add_pool(
        "leaked",
        {
            "vmSize": GPU_SKU,
            "nodeLabels": {"karpenter.sh/nodepool": "kaito", "kaito.sh/workspace": "old"},
        },
    )

    got = await provider.get("ws2")
    assert got is not None
    assert got.instance_type == "Standard_NC6s_v3"
    assert await provider.get("nodepool1") is None  # not kaito's
    assert await provider.get("nope") is None
    listed = {i.name: i for i in await provider.list()}
    assert set(listed) == {"ws1", "ws2", "leaked"}  # labelled like upstream's pools count
    assert all(i.state is InstanceState.RUNNING for i in listed.values())
    assert listed["leaked"].created_at is not None  # from systemData, no timestamp label

    await provider.delete("ws1")
    assert "ws1" not in sim.pools
    assert await provider.get("ws1") is None
    with pytest.raises(InstanceNotFound):
        await provider.delete("ws1")
    with pytest.raises(InstanceNotFound):
        await provider.delete("nodepool1")
    assert "nodepool1" in sim.pools
    assert [i.name for i in await provider.list()] == ["leaked", "ws2"]


async def test_list_follows_next_links(sim: AksSimulator, provider: AzureProvider) -> None:
    sim.page_size = 2
    for index in range(5):
        await sim.add_pool(f"ws{index}", {"vmSize": GPU_SKU, "tags": {"kaito-managed": "true"}})
    assert sorted(i.name for i in await provider.list()) == [f"ws{i}" for i in range(5)]
    assert sum(1 for r in sim.requests if r.path.endswith("/agentPools")) == 3


async def test_create_of_a_running_pool_is_a_no_op(
    sim: AksSimulator, provider: AzureProvider
) -> None:
    first = await provider.create(request())
    second = await provider.create(request())
    assert second == first
    assert sim.count("PUT", "ws1") == 1


async def test_invalid_names_never_reach_azure(sim: AksSimulator, provider: AzureProvider) -> None:
    with pytest.raises(InvalidRequest, match="must match"):
        await provider.create(request("ws-1"))
    with pytest.raises(InvalidRequest, match="must match"):
        await provider.create(request("workspace0123"))
    assert sim.requests == []


async def test_a_pool_kaito_does_not_own_is_never_adopted(
    sim: AksSimulator, provider: AzureProvider
) -> None:
    await sim.add_pool("ws1", {"vmSize": "Standard_D4s_v3"})
    with pytest.raises(InvalidRequest) as info:
        await provider.create(request("ws1"))
    assert info.value.code == "PoolNameTaken"
    assert sim.count("PUT") == 0


async def test_a_wrong_cluster_is_an_error_not_an_empty_answer(sim: AksSimulator) -> None:
    sim.cluster_name = "other-cluster"
    async with make_provider(sim) as provider:
        sim.cluster_name = "kaito-aks"
        with pytest.raises(InvalidRequest, match="other-cluster"):
            await provider.get("ws1")
        with pytest.raises(InvalidRequest, match="other-cluster"):
            await provider.list()


# -- faults --------------------------------------------------------------------------------


async def test_throttled_put_is_retried_after_retry_after(
    sim: AksSimulator, provider: AzureProvider
) -> None:
    sim.throttle_next("PUT", times=2, retry_after=0.3)
    instance = await provider.create(request())
    assert instance.state is InstanceState.RUNNING
    puts = [r for r in sim.requests if r.method == "PUT"]
    assert [r.status for r in puts] == [429, 429, 201]
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(puts)]
    assert all(gap >= 0.27 for gap in gaps), gaps  # the SDK honoured Retry-After


async def test_server_errors_are_retried_on_put_and_on_polls(
    sim: AksSimulator, provider: AzureProvider
) -> None:
    sim.server_error_next("PUT", times=2)
    sim.fail_next("GET", Fault(503, "ServiceUnavailable", "try later"), target="operation")
    instance = await provider.create(request())
    assert instance.state is InstanceState.RUNNING
    assert [r.status for r in sim.requests if r.method == "PUT"] == [500, 500, 201]
    assert any(r.status == 503 and "/operations/" in r.path for r in sim.requests)
    assert len(sim.pools) == 1


async def test_throttling_past_the_retry_budget_is_a_throttled_error(sim: AksSimulator) -> None:
    sim.throttle_next("PUT", times=5, retry_after=0.1)
    async with make_provider(sim, retry_total=1) as provider:
        with pytest.raises(Throttled) as info:
            await provider.create(request())
    assert info.value.retryable
    assert info.value.status == 429
    assert info.value.retry_after == pytest.approx(0.1)
    assert "throttled" in info.value.message
    assert sim.pools == {}


async def test_persistent_server_errors_are_transient(sim: AksSimulator) -> None:
    sim.server_error_next("GET", times=5)
    async with make_provider(sim, retry_total=1) as provider:
        with pytest.raises(TransientError) as info:
            await provider.get("ws1")
    assert info.value.status == 500
    assert info.value.message == "An internal server error occurred."


@pytest.mark.parametrize("code", ["QuotaExceeded", "OperationNotAllowed"])
async def test_quota_error_keeps_azures_message(
    sim: AksSimulator, provider: AzureProvider, code: str
) -> None:
    message = sim.quota_exceeded_next(code=code)
    with pytest.raises(QuotaExceeded) as info:
        await provider.create(request())
    assert info.value.message == message
    assert info.value.code == code
    assert not info.value.retryable
    assert sim.pools == {}
    assert sim.count("PUT") == 1  # not retried by the SDK either


async def test_sku_unavailable_during_the_operation(
    sim: AksSimulator, provider: AzureProvider
) -> None:
    message = sim.sku_unavailable(GPU_SKU)
    with pytest.raises(SkuUnavailable) as info:
        await provider.create(request())
    assert info.value.message == message
    assert info.value.code == "SkuNotAvailable"
    assert not info.value.retryable

    failed = await provider.get("ws1")
    assert failed is not None
    assert failed.state is InstanceState.FAILED
    assert failed.message == message

    # Capacity comes back: creating again re-PUTs the failed pool instead of adopting it.
    sim.sku_available(GPU_SKU)
    instance = await provider.create(request())
    assert instance.state is InstanceState.RUNNING
    assert sim.count("PUT", "ws1") == 2


async def test_sku_refused_at_once(sim: AksSimulator, provider: AzureProvider) -> None:
    message = sim.sku_unavailable("Standard_ND96asr_v4", asynchronous=False)
    with pytest.raises(SkuUnavailable) as info:
        await provider.create(request(instance_type="Standard_ND96asr_v4"))
    assert info.value.message == message
    assert info.value.status == 400
    assert sim.pools == {}


# -- restarts and races --------------------------------------------------------------------


async def test_restart_during_a_slow_create_adopts_the_pool(sim: AksSimulator) -> None:
    sim.create_delay = 1.5
    first = make_provider(sim)
    create = asyncio.create_task(first.create(request()))
    await async_wait_until(
        lambda: _pool_in(sim, "ws1", "Creating"), what="the first create to be accepted"
    )
    create.cancel()  # the provisioner dies mid-create
    with pytest.raises(asyncio.CancelledError):
        await create
    await first.aclose()
    assert sim.pools["ws1"].state == "Creating"

    async with make_provider(sim) as restarted:
        instance = await restarted.create(request())
    assert instance.state is InstanceState.RUNNING
    assert list(sim.pools) == ["ws1"]
    assert sim.count("PUT", "ws1") == 1


async def test_an_adopted_create_that_fails_reports_the_clouds_error(sim: AksSimulator) -> None:
    sim.create_delay = 0.5
    message = sim.sku_unavailable(GPU_SKU)
    sim.in_progress_next()  # the create was started by someone else (our previous life)
    async with make_provider(sim) as provider:
        with pytest.raises(SkuUnavailable) as info:
            await provider.create(request())
    assert info.value.message == message
    assert info.value.code == "SkuNotAvailable"
    assert sim.pools["ws1"].state == "Failed"


async def test_in_progress_conflict_is_adopted(sim: AksSimulator, provider: AzureProvider) -> None:
    sim.create_delay = 0.5
    sim.in_progress_next()
    instance = await provider.create(request())
    assert instance.state is InstanceState.RUNNING
    assert [r.status for r in sim.requests if r.method == "PUT"] == [409]
    assert list(sim.pools) == ["ws1"]


async def test_adopting_gives_up_after_adopt_timeout(sim: AksSimulator) -> None:
    sim.create_delay = 30
    sim.in_progress_next()
    async with make_provider(sim, adopt_timeout=0.3) as provider:
        with pytest.raises(TransientError) as info:
            await provider.create(request())
    assert info.value.code == "PoolTimeout"
    assert "still creating" in info.value.message
    assert info.value.retryable


async def test_a_second_delete_waits_for_the_first(sim: AksSimulator) -> None:
    sim.delete_delay = 0.8
    async with make_provider(sim) as one, make_provider(sim) as two:
        await one.create(request())
        first = asyncio.create_task(one.delete("ws1"))
        await async_wait_until(lambda: _pool_in(sim, "ws1", "Deleting"), what="deleting")
        await two.delete("ws1")
        assert "ws1" not in sim.pools
        await first
    assert sim.count("DELETE", "ws1") == 1


async def test_create_of_a_pool_being_deleted_is_transient(
    sim: AksSimulator, provider: AzureProvider
) -> None:
    sim.delete_delay = 0.5
    await provider.create(request())
    deleting = asyncio.create_task(provider.delete("ws1"))
    await async_wait_until(lambda: _pool_in(sim, "ws1", "Deleting"), what="deleting")
    with pytest.raises(TransientError) as info:
        await provider.create(request())
    assert info.value.code == "PoolDeleting"
    await deleting


async def _pool_in(sim: AksSimulator, name: str, state: str) -> bool:
    pool = sim.pools.get(name)
    return pool is not None and pool.state == state


# -- Nodes in the real control plane -------------------------------------------------------


@pytest.fixture
async def kube_sim(
    tmp_path: Path, control_plane: ControlPlane
) -> AsyncIterator[tuple[AksSimulator, KubeNodeHooks]]:
    async with KubeNodeHooks(control_plane.kubeconfig) as hooks:
        simulator = AksSimulator(
            tmp_path / "aks",
            on_pool_ready=hooks.on_pool_ready,
            on_pool_deleted=hooks.on_pool_deleted,
        )
        async with simulator:
            yield simulator, hooks


def _unique_name() -> str:
    return "ws" + uuid.uuid4().hex[:9]


async def test_pool_node_registers_and_is_mapped_back(
    kube_sim: tuple[AksSimulator, KubeNodeHooks], control_plane: ControlPlane
) -> None:
    sim, hooks = kube_sim
    name = _unique_name()
    async with make_provider(sim, nodes=hooks.node_lister()) as provider:
        instance = await provider.create(request(name))
        pool = sim.pools[name]
        assert instance.node_name == pool.node_name
        assert instance.provider_id == pool.provider_id
        assert pool_from_provider_id(instance.provider_id) == name

        node = get_json(control_plane, "node", pool.node_name)
        assert node is not None
        labels = node["metadata"]["labels"]
        assert labels["agentpool"] == name
        assert labels["kubernetes.azure.com/agentpool"] == name
        assert labels["node.kubernetes.io/instance-type"] == GPU_SKU
        assert labels["kaito.sh/workspace"] == "falcon"
        assert node["status"]["capacity"]["nvidia.com/gpu"] == "1"
        sku_taint = {"key": "sku", "value": "gpu", "effect": "NoSchedule"}
        assert sku_taint in node["spec"]["taints"]  # beside node.kubernetes.io/not-ready

        ready = await async_wait_until(
            lambda: _node_ready(control_plane, pool.node_name), what="kwok to make it Ready"
        )
        assert ready

        listed = {i.name: i for i in await provider.list()}
        assert listed[name].node_name == pool.node_name

        await provider.delete(name)
        assert get_json(control_plane, "node", pool.node_name) is None
        assert hooks.removed == [pool.node_name]


async def test_node_without_provider_id_is_not_reported(
    kube_sim: tuple[AksSimulator, KubeNodeHooks], control_plane: ControlPlane
) -> None:
    sim, hooks = kube_sim
    name = _unique_name()
    registered: list[str] = []

    async def without_provider_id(pool: Any) -> None:
        pool.provider_id = ""
        await hooks.on_pool_ready(pool)
        registered.append(pool.node_name)

    sim.on_pool_ready = without_provider_id
    async with make_provider(sim, nodes=hooks.node_lister()) as provider:
        instance = await provider.create(request(name))
        assert registered  # the Node exists ...
        assert instance.node_name is None  # ... but is not initialised by the cloud yet
        assert instance.provider_id.endswith(f"/agentPools/{name}")
        await provider.delete(name)


async def _node_ready(plane: ControlPlane, name: str) -> bool:
    ready = condition(get_json(plane, "node", name), "Ready")
    return ready is not None and ready.get("status") == "True"
