"""Finding the Kubernetes Node behind an AKS agent pool.

An agent pool is not a Node: AKS creates a VMSS whose VM joins the cluster as
``aks-<pool>-<id>-vmss000000`` labelled ``agentpool=<pool>`` and
``kubernetes.azure.com/agentpool=<pool>``. Upstream's gpu-provisioner lists Nodes by those
two labels and maps the pool back through the Node's ``spec.providerID``
(``azure:///subscriptions/.../virtualMachineScaleSets/aks-<pool>-<id>-vmss/virtualMachines/0``);
this module does the same on plain Node dicts, as the API returns them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import attrs

AGENTPOOL_LABEL = "agentpool"
AKS_AGENTPOOL_LABEL = "kubernetes.azure.com/agentpool"
ANY_POOL_SELECTOR = AKS_AGENTPOOL_LABEL
"""Label selector matching every AKS agent-pool Node."""

_VMSS_PROVIDER_ID = re.compile(
    r"^azure:///subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/"
    r"virtualMachineScaleSets/(?P<vmss>[^/]+)/virtualMachines/(?P<index>\d+)$",
    re.IGNORECASE,
)


@attrs.frozen
class PoolNode:
    """The registered Node of an agent pool."""

    pool: str
    name: str
    provider_id: str


class NodeLister(Protocol):
    """Lists Nodes (as API dicts) matching a label selector."""

    async def __call__(self, label_selector: str) -> Sequence[Mapping[str, Any]]: ...


def pool_label_selector(pool: str) -> str:
    """The label selector upstream uses to find a pool's Nodes."""
    return f"{AGENTPOOL_LABEL}={pool},{AKS_AGENTPOOL_LABEL}={pool}"


def vmss_provider_id(
    subscription_id: str, node_resource_group: str, vmss_name: str, index: int = 0
) -> str:
    """The ``spec.providerID`` of VM ``index`` of a VMSS, as the Azure cloud provider sets it."""
    return (
        f"azure:///subscriptions/{subscription_id}/resourceGroups/{node_resource_group}"
        f"/providers/Microsoft.Compute/virtualMachineScaleSets/{vmss_name}"
        f"/virtualMachines/{index}"
    )


def pool_from_provider_id(provider_id: str) -> str | None:
    """The agent pool of a VMSS providerID (``aks-<pool>-<id>-vmss`` -> ``<pool>``), or None."""
    match = _VMSS_PROVIDER_ID.match(provider_id)
    if match is None:
        return None
    parts = match["vmss"].split("-")
    if len(parts) < 3 or parts[0].lower() != "aks" or not parts[1]:
        return None
    return parts[1]


def _pool_of(node: Mapping[str, Any]) -> str | None:
    labels = (node.get("metadata") or {}).get("labels") or {}
    pool = labels.get(AGENTPOOL_LABEL)
    if not pool or labels.get(AKS_AGENTPOOL_LABEL) != pool:
        return None
    return str(pool)


def pool_nodes(nodes: Iterable[Mapping[str, Any]]) -> dict[str, PoolNode]:
    """Map pool name -> its Node, for pools with exactly one Node that has a providerID.

    Upstream waits for exactly one such Node: a pool of count 1 with two Nodes is being
    replaced, and one without providerID has not been initialised by the cloud provider yet.
    """
    found: dict[str, list[PoolNode]] = {}
    for node in nodes:
        pool = _pool_of(node)
        provider_id = (node.get("spec") or {}).get("providerID") or ""
        name = (node.get("metadata") or {}).get("name") or ""
        if pool is None or not provider_id or not name:
            continue
        found.setdefault(pool, []).append(PoolNode(pool, str(name), str(provider_id)))
    return {pool: entries[0] for pool, entries in found.items() if len(entries) == 1}


async def find_pool_node(list_nodes: NodeLister, pool: str) -> PoolNode | None:
    """The Node of agent pool ``pool``, or None while it has not registered."""
    return pool_nodes(await list_nodes(pool_label_selector(pool))).get(pool)
