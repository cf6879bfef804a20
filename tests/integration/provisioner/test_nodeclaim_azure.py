"""The NodeClaim reconciler in a real Manager with the Azure provider on the real SDK, against
the simulated AKS endpoint whose pools register kwok-managed Nodes in the control plane:
the whole lifecycle, cloud faults that retrying fixes, and refusals it cannot fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kaito import kinds
from kaito.provisioner.metrics import STATES
from kaito.provisioner.nodeclaim import TERMINATION_FINALIZER
from kaito.runtime import resources as r
from kaito.runtime.client import Client
from kaito.runtime.manager import Manager
from tests.integration.provisioner.conftest import (
    NC6,
    azure_provider,
    claim_name,
    condition,
    delete_and_wait,
    get_or_none,
    is_true,
    nodeclaim,
    running_provisioner,
    wait_ready,
)
from tests.support.aks_sim import AksSimulator, KubeNodeHooks
from tests.support.waiting import async_wait_until

Aks = tuple[AksSimulator, KubeNodeHooks]


async def scrape(manager: Manager) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The manager's /metrics as {(sample name, sorted labels): value}."""
    url = f"http://127.0.0.1:{manager.endpoint_port('/metrics')}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def requests_total(metrics: dict[Any, float], method: str, result: str) -> float:
    key = (
        "kaito_provisioner_cloud_requests_total",
        (("method", method), ("result", result)),
    )
    return metrics.get(key, 0.0)


def latency_count(metrics: dict[Any, float], method: str) -> float:
    return metrics.get(
        ("kaito_provisioner_cloud_request_duration_seconds_count", (("method", method),)), 0.0
    )


def state_gauge(metrics: dict[Any, float], state: str) -> float:
    return metrics[("kaito_provisioner_nodeclaims", (("state", state),))]


async def gauge_settles(
    manager: Manager, state: str, check: Callable[[float], bool]
) -> dict[Any, float]:
    """Scrape until ``kaito_provisioner_nodeclaims{state}`` passes ``check`` (the gauge is
    set after each reconcile, so it trails the API by one event); return that scrape."""

    async def probe() -> dict[Any, float] | None:
        metrics = await scrape(manager)
        return metrics if check(state_gauge(metrics, state)) else None

    return await async_wait_until(probe, timeout=10, interval=0.1, what=f"gauge {state}")


async def launched_false(client: Client, name: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        claim = await get_or_none(client, kinds.NODECLAIM, name)
        cond = condition(claim, "Launched")
        return claim if cond is not None and cond["status"] == "False" else None

    return await async_wait_until(probe, timeout=30, interval=0.1, what=f"{name} Launched=False")


async def poke(client: Client, name: str) -> None:
    """Change the NodeClaim so the reconciler sees an event and runs again."""
    await client.patch(
        kinds.NODECLAIM, name, {"metadata": {"annotations": {"test.kaito.sh/poke": name}}}
    )


def reconciles(metrics: dict[Any, float]) -> float:
    """Finished NodeClaim reconciles, every result."""
    return sum(
        value
        for (sample, labels), value in metrics.items()
        if sample == "controller_runtime_reconcile_total" and ("controller", "nodeclaim") in labels
    )


async def poke_and_wait(client: Client, manager: Manager, name: str) -> None:
    """Poke the NodeClaim and wait until the reconcile that the poke caused has finished: the
    barrier after which "it did not call the cloud again" can be asserted."""
    before = reconciles(await scrape(manager))
    await poke(client, name)

    async def probe() -> bool:
        return reconciles(await scrape(manager)) > before

    await async_wait_until(probe, timeout=10, interval=0.05, what=f"the reconcile of {name}")


async def test_azure_nodeclaim_lifecycle_and_metrics(aks: Aks, client: Client) -> None:
    sim, hooks = aks
    name = claim_name()
    async with (
        azure_provider(sim, hooks) as provider,
        running_provisioner(client, provider) as (manager, _),
    ):
        before = await scrape(manager)
        await client.create(kinds.NODECLAIM, nodeclaim(name, storage="512Gi"))
        claim = await wait_ready(client, name)

        pool = sim.pools[name]
        assert pool.state == "Succeeded"
        assert pool.vm_size == NC6
        assert pool.properties["count"] == 1
        assert pool.properties["osSKU"] == "Ubuntu"
        assert pool.properties["osDiskSizeGB"] == 512
        assert pool.properties["nodeTaints"] == ["sku=gpu:NoSchedule"]
        assert pool.node_labels["kaito.sh/workspace"] == "falcon"
        assert pool.node_labels["kaito.sh/machine-type"] == "gpu"

        status = claim["status"]
        assert status["providerID"] == pool.provider_id  # the Node's VMSS id, not the ARM id
        assert status["providerID"].startswith("azure:///subscriptions/")
        assert status["nodeName"] == pool.node_name
        assert status["imageID"] == "AKSUbuntu-202501.01.0"
        assert status["capacity"]["nvidia.com/gpu"] == "1"
        assert status["capacity"]["ephemeral-storage"] == "512Gi"
        assert status["allocatable"]["cpu"] == "24"
        for kind in ("Launched", "Registered", "Initialized", "Ready"):
            assert is_true(claim, kind), kind
        assert claim["metadata"]["finalizers"] == [TERMINATION_FINALIZER]
        assert sim.count("PUT", name) == 1
        assert hooks.registered == [pool.node_name]

        during = await gauge_settles(manager, "ready", lambda value: value >= 1)

        await delete_and_wait(client, name)
        assert name not in sim.pools
        assert sim.count("DELETE", name) == 1
        assert await get_or_none(client, r.NODE, pool.node_name) is None
        assert hooks.removed == [pool.node_name]

        # The gauge follows the cluster: one fewer ready NodeClaim than while it was up.
        ready = state_gauge(during, "ready")
        after = await gauge_settles(manager, "ready", lambda value: value == ready - 1)
        assert (
            requests_total(after, "create", "success") - requests_total(before, "create", "success")
            == 1
        )
        assert (
            requests_total(after, "delete", "success") - requests_total(before, "delete", "success")
            == 1
        )
        assert latency_count(after, "create") - latency_count(before, "create") == 1
        assert latency_count(after, "delete") - latency_count(before, "delete") == 1
        assert set(STATES) <= {
            dict(labels)["state"]
            for (sample, labels) in after
            if sample == "kaito_provisioner_nodeclaims"
        }


async def test_throttling_and_server_errors_are_retried_until_ready(
    aks: Aks, client: Client
) -> None:
    """The SDK retries 429 (after Retry-After) and 500 itself; with its retries spent the
    reconciler shows the error in Launched=False and retries with backoff."""
    sim, hooks = aks
    name = claim_name()
    sim.throttle_next("PUT", times=2, retry_after=0.2)
    sim.server_error_next("PUT", times=2)
    # retry_total=1: the SDK absorbs one 429 and one 500, the reconciler retries the rest.
    async with (
        azure_provider(sim, hooks, retry_total=1) as provider,
        running_provisioner(client, provider) as (manager, _),
    ):
        before = await scrape(manager)
        await client.create(kinds.NODECLAIM, nodeclaim(name))
        claim = await wait_ready(client, name)

        puts = [req.status for req in sim.requests if req.method == "PUT"]
        assert puts == [429, 429, 500, 500, 201]
        assert list(sim.pools) == [name]
        launched = condition(claim, "Launched")
        assert launched is not None
        assert (launched["status"], launched["reason"]) == ("True", "Launched")
        events = await client.list(r.EVENT, "default", field_selector=f"involvedObject.name={name}")
        failures = sorted(e["message"] for e in events.items if e["reason"] == "LaunchFailed")
        assert len(failures) == 2, failures
        assert "InternalServerError" in failures[0]
        assert "TooManyRequests" in failures[1]

        after = await scrape(manager)
        assert (
            requests_total(after, "create", "Throttled")
            - requests_total(before, "create", "Throttled")
            == 1
        )
        assert (
            requests_total(after, "create", "TransientError")
            - requests_total(before, "create", "TransientError")
            == 1
        )
        assert (
            requests_total(after, "create", "success") - requests_total(before, "create", "success")
            == 1
        )
        await delete_and_wait(client, name)
    assert sim.pools == {}


async def test_quota_error_is_shown_and_never_retried(aks: Aks, client: Client) -> None:
    sim, hooks = aks
    name = claim_name()
    message = sim.quota_exceeded_next()
    async with (
        azure_provider(sim, hooks) as provider,
        running_provisioner(client, provider) as (manager, _),
    ):
        await client.create(kinds.NODECLAIM, nodeclaim(name))
        claim = await launched_false(client, name)
        launched = condition(claim, "Launched")
        assert launched is not None
        assert launched["reason"] == "QuotaExceeded"
        assert launched["message"] == message
        assert not is_true(claim, "Ready")
        assert "providerID" not in claim.get("status", {})

        await poke_and_wait(client, manager, name)
        assert sim.count("PUT", name) == 1  # neither the SDK nor the reconciler asked again
        assert sim.pools == {}
        await gauge_settles(manager, "failed", lambda value: value >= 1)

        await delete_and_wait(client, name)
        assert sim.count("DELETE", name) == 0  # nothing was created, nothing to delete


@pytest.mark.parametrize("asynchronous", [True, False], ids=["in-operation", "at-once"])
async def test_unavailable_sku_is_shown_and_never_retried(
    aks: Aks, client: Client, asynchronous: bool
) -> None:
    sim, hooks = aks
    name = claim_name()
    sku = "Standard_NC24ads_A100_v4"
    message = sim.sku_unavailable(sku, asynchronous=asynchronous)
    async with (
        azure_provider(sim, hooks) as provider,
        running_provisioner(client, provider) as (manager, _),
    ):
        await client.create(kinds.NODECLAIM, nodeclaim(name, instance_type=sku))
        claim = await launched_false(client, name)
        launched = condition(claim, "Launched")
        assert launched is not None
        assert launched["reason"] == "SkuNotAvailable"
        assert launched["message"] == message

        await poke_and_wait(client, manager, name)
        assert sim.count("PUT", name) == 1
        if asynchronous:
            assert sim.pools[name].state == "Failed"  # the cloud keeps the failed pool ...
        else:
            assert sim.pools == {}

        await delete_and_wait(client, name)
        assert name not in sim.pools  # ... until the NodeClaim goes
        assert sim.count("DELETE", name) == (1 if asynchronous else 0)
