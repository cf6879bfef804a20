"""Finding an agent pool's Node and parsing VMSS providerIDs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kaito.provisioner.cloud.azure_nodes import (
    PoolNode,
    find_pool_node,
    pool_from_provider_id,
    pool_label_selector,
    pool_nodes,
    vmss_provider_id,
)

PID = (
    "azure:///subscriptions/0000/resourceGroups/mc_rg_aks_eastus/providers/"
    "Microsoft.Compute/virtualMachineScaleSets/aks-ws1a2b3c-12345678-vmss/virtualMachines/0"
)


def node(
    name: str, pool: str | None, provider_id: str = "", aks_pool: str | None = None
) -> dict[str, Any]:
    labels = {}
    if pool is not None:
        labels["agentpool"] = pool
        labels["kubernetes.azure.com/agentpool"] = aks_pool if aks_pool is not None else pool
    spec = {"providerID": provider_id} if provider_id else {}
    return {"metadata": {"name": name, "labels": labels}, "spec": spec}


def test_vmss_provider_id_round_trips_to_the_pool() -> None:
    pid = vmss_provider_id("0000", "mc_rg_aks_eastus", "aks-ws1a2b3c-12345678-vmss")
    assert pid == PID
    assert pool_from_provider_id(PID) == "ws1a2b3c"


def test_provider_ids_that_are_not_aks_vmss() -> None:
    assert pool_from_provider_id("kwok://node-1") is None
    assert pool_from_provider_id(PID.replace("aks-ws1a2b3c", "custom")) is None
    assert pool_from_provider_id(PID.replace("/virtualMachines/0", "")) is None
    assert pool_from_provider_id(PID.upper().replace("AZURE:", "azure:")) == "WS1A2B3C"


def test_label_selector_requires_both_labels() -> None:
    assert pool_label_selector("ws1") == "agentpool=ws1,kubernetes.azure.com/agentpool=ws1"


def test_pool_nodes_only_maps_pools_with_exactly_one_initialised_node() -> None:
    nodes = [
        node("aks-ws1-1-vmss000000", "ws1", "azure:///a"),
        node("aks-ws2-1-vmss000000", "ws2"),  # cloud provider has not set providerID yet
        node("aks-ws3-1-vmss000000", "ws3", "azure:///b"),
        node("aks-ws3-1-vmss000001", "ws3", "azure:///c"),  # being replaced
        node("aks-ws4-1-vmss000000", "ws4", "azure:///d", aks_pool="other"),
        node("kind-worker", None, "kind://x"),
    ]
    assert pool_nodes(nodes) == {"ws1": PoolNode("ws1", "aks-ws1-1-vmss000000", "azure:///a")}


class FakeLister:
    def __init__(self, nodes: list[dict[str, Any]]) -> None:
        self.nodes = nodes
        self.selectors: list[str] = []

    async def __call__(self, label_selector: str) -> Sequence[Mapping[str, Any]]:
        self.selectors.append(label_selector)
        wanted = dict(part.split("=") for part in label_selector.split(","))
        return [
            n
            for n in self.nodes
            if all(n["metadata"]["labels"].get(k) == v for k, v in wanted.items())
        ]


async def test_find_pool_node_asks_by_label_selector() -> None:
    lister = FakeLister(
        [node("aks-ws1-1-vmss000000", "ws1", "azure:///a"), node("n2", "ws2", "azure:///b")]
    )
    found = await find_pool_node(lister, "ws1")
    assert found == PoolNode("ws1", "aks-ws1-1-vmss000000", "azure:///a")
    assert lister.selectors == [pool_label_selector("ws1")]
    assert await find_pool_node(lister, "ws9") is None
