"""The NodeClaim reconciler in a real Manager with the kwok provider: a NodeClaim becomes a
Ready kwok Node with the SKU's labels and capacity, and deleting it removes both."""

from __future__ import annotations

from kaito import kinds
from kaito.presets import get_sku
from kaito.provisioner.cloud.kwok import KwokProvider
from kaito.provisioner.nodeclaim import TERMINATION_FINALIZER
from kaito.runtime import resources as r
from kaito.runtime.client import Client
from tests.integration.provisioner.conftest import (
    NC6,
    claim_name,
    condition,
    get_or_none,
    is_true,
    nodeclaim,
    running_provisioner,
    wait_gone,
    wait_ready,
)


async def test_kwok_nodeclaim_becomes_a_ready_node_and_is_deleted(client: Client) -> None:
    name = claim_name()
    provider = KwokProvider(client, get_sku, boot_delay=0.3)
    async with running_provisioner(client, provider):
        await client.create(kinds.NODECLAIM, nodeclaim(name, storage="200Gi"))
        claim = await wait_ready(client, name)

        status = claim["status"]
        assert status["providerID"] == f"kwok://{name}"
        assert status["nodeName"] == name
        assert status["imageID"] == "kwok"
        assert status["capacity"]["nvidia.com/gpu"] == "1"
        assert status["capacity"]["ephemeral-storage"] == "200Gi"
        assert status["allocatable"]["nvidia.com/gpu"] == "1"
        assert status["allocatable"]["cpu"] == "6"
        for kind in ("Launched", "Registered", "Initialized", "Ready"):
            cond = condition(claim, kind)
            assert cond is not None, kind
            assert (cond["status"], cond["reason"]) == ("True", kind)
        assert claim["metadata"]["finalizers"] == [TERMINATION_FINALIZER]

        node = await client.get(r.NODE, name)
        labels = node["metadata"]["labels"]
        assert labels["node.kubernetes.io/instance-type"] == NC6
        assert labels["nvidia.com/gpu.product"] == "NVIDIA-V100"
        assert labels["nvidia.com/gpu.count"] == "1"
        assert labels["nvidia.com/gpu.memory"] == "16384"
        assert labels["kaito.sh/workspace"] == "falcon"
        assert labels["karpenter.sh/nodepool"] == "kaito"
        assert {"key": "sku", "value": "gpu", "effect": "NoSchedule"} in node["spec"]["taints"]
        assert is_true(node, "Ready")  # kwok heartbeats it

        await client.delete(kinds.NODECLAIM, name)
        await wait_gone(client, kinds.NODECLAIM, name)
        assert await get_or_none(client, r.NODE, name) is None
