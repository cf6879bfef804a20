"""The kwok provider simulates GPU nodes only: it refuses the CPU instance types of the catalog
(a CPU preset's nodes come from a provider that makes real nodes)."""

from __future__ import annotations

import pytest

from kaito.presets import get_sku
from kaito.provisioner.cloud.base import InstanceRequest
from kaito.provisioner.cloud.errors import InvalidRequest
from kaito.provisioner.cloud.kwok import KwokProvider
from kaito.runtime import resources as r
from kaito.runtime.client import Client, ClientConfig
from kaito.runtime.errors import NotFound
from kaito.testenv import ControlPlane


@pytest.mark.parametrize("sku", ["Standard_D2s_v5", "Standard_D4s_v5", "Standard_D8s_v5"])
async def test_kwok_refuses_cpu_instance_types(control_plane: ControlPlane, sku: str) -> None:
    name = f"wscpu{sku.split('_')[1].lower()}"
    async with await Client.from_kubeconfig(
        control_plane.kubeconfig, config=ClientConfig(qps=0)
    ) as client:
        provider = KwokProvider(client, get_sku, boot_delay=0)
        with pytest.raises(InvalidRequest, match="is not a known GPU instance type") as info:
            await provider.create(InstanceRequest(name=name, instance_type=sku))
        assert info.value.code == "SkuNotAvailable"
        with pytest.raises(NotFound):
            await client.get(r.NODE, name)
