"""Garbage collection between the simulated AKS and the control plane, with the NodeClaim
reconciler running: leaked kaito pools go (with their Nodes), pools with a NodeClaim and pools
kaito does not own stay, NodeClaims whose pool vanished are deleted to be replaced."""

from __future__ import annotations

import datetime as dt

from kaito import kinds
from kaito.provisioner.gc import GarbageCollector
from kaito.runtime import resources as r
from kaito.runtime.client import Client
from kaito.runtime.metrics import registry
from tests.integration.provisioner.conftest import (
    NC6,
    azure_provider,
    claim_name,
    delete_and_wait,
    get_or_none,
    is_true,
    nodeclaim,
    running_provisioner,
    wait_gone,
    wait_ready,
)
from tests.support.aks_sim import AksSimulator, KubeNodeHooks


def collected() -> float:
    value = registry.get_sample_value("kaito_provisioner_garbage_collected_instances_total")
    return value or 0.0


def kaito_pool_properties(*, age: dt.timedelta | None) -> dict[str, object]:
    """An agent pool as kaito would have made it, created ``age`` ago (None: just now, with
    no creation-timestamp label, so systemData's createdAt counts)."""
    labels = {"karpenter.sh/nodepool": "kaito", "kaito.sh/workspace": "gone"}
    if age is not None:
        created = dt.datetime.now(dt.UTC) - age
        labels["kaito.sh/creation-timestamp"] = created.strftime("%Y-%m-%dT%H-%M-%SZ")
    return {"vmSize": NC6, "nodeLabels": labels, "tags": {"kaito-managed": "true"}}


async def test_gc_deletes_leaks_and_vanished_claims_and_nothing_else(
    aks: tuple[AksSimulator, KubeNodeHooks], client: Client
) -> None:
    sim, hooks = aks
    kept, lost = claim_name(), claim_name()
    leaked, young = "leak" + kept[2:10], "young" + kept[2:9]
    async with (
        azure_provider(sim, hooks) as provider,
        running_provisioner(client, provider),
    ):
        for name in (kept, lost):
            await client.create(kinds.NODECLAIM, nodeclaim(name))
        for name in (kept, lost):
            await wait_ready(client, name)
        leaked_pool = await sim.add_pool(leaked, kaito_pool_properties(age=dt.timedelta(hours=1)))
        await sim.add_pool(young, kaito_pool_properties(age=None))
        await sim.add_pool("system", {"vmSize": "Standard_D4s_v3", "mode": "System"})
        assert await get_or_none(client, r.NODE, leaked_pool.node_name) is not None
        # A NodeClaim of another nodepool (Karpenter's own) whose instance kaito never knew.
        foreign = claim_name()
        foreign_claim = nodeclaim(foreign)
        foreign_claim["metadata"]["labels"]["karpenter.sh/nodepool"] = "default"
        await client.create(kinds.NODECLAIM, foreign_claim)
        await client.patch(
            kinds.NODECLAIM,
            foreign,
            {"status": {"providerID": "azure:///elsewhere/vm0"}},
            subresource="status",
        )
        # The pool of `lost` disappears behind kaito's back (someone deleted it in the portal).
        lost_pool = sim.pools.pop(lost)
        await hooks.on_pool_deleted(lost_pool)
        deletes_before = sim.count("DELETE")
        collected_before = collected()

        pools_before = set(sim.pools)  # other tests' stray NodeClaims may have pools too
        collector = GarbageCollector(client, provider)
        leaks, vanished = await collector.collect_once()

        assert leaks == [leaked]
        assert vanished == [lost]
        assert collected() - collected_before == 1
        assert pools_before - set(sim.pools) == {leaked}  # the leak, and nothing else
        assert {kept, young, "system"} <= set(sim.pools)
        assert sim.count("DELETE") - deletes_before == 1  # only the leak's
        assert sim.count("DELETE", kept) == 0
        assert await get_or_none(client, r.NODE, leaked_pool.node_name) is None
        await wait_gone(client, kinds.NODECLAIM, lost)  # its finalizer let go: pool not found
        kept_claim = await get_or_none(client, kinds.NODECLAIM, kept)
        assert is_true(kept_claim, "Ready")
        assert await get_or_none(client, kinds.NODECLAIM, foreign) is not None

        # A second pass finds nothing more to do.
        assert await collector.collect_once() == ([], [])

        await delete_and_wait(client, kept)
        await delete_and_wait(client, foreign)
