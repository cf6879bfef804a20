"""InstanceRequest -> AgentPool body, and AgentPool -> Instance."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from azure.mgmt.containerservice.models import AgentPool

from kaito.provisioner.cloud import InstanceRequest, InstanceState, InvalidRequest, Taint
from kaito.provisioner.cloud.azure_nodes import PoolNode
from kaito.provisioner.cloud.azure_pool import (
    build_agent_pool,
    format_creation_timestamp,
    instance_from_pool,
    instance_state,
    is_kaito_pool,
    machine_type,
    parse_creation_timestamp,
    validate_pool_name,
)

NOW = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
ARM_ID = (
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService"
    "/managedClusters/c/agentPools/ws1"
)


def wire(pool: AgentPool) -> dict[str, Any]:
    result: dict[str, Any] = pool.as_dict()
    return result


@pytest.mark.parametrize("name", ["a", "ws0123456789", "gpu1", "wsabcdef123"])
def test_valid_pool_names(name: str) -> None:
    validate_pool_name(name)


@pytest.mark.parametrize(
    "name", ["", "1ws", "Ws1", "ws-1", "ws_1", "ws01234567890", "wsé", "ws1\n"]
)
def test_invalid_pool_names(name: str) -> None:
    with pytest.raises(InvalidRequest, match="must match"):
        validate_pool_name(name)


def test_body_matches_upstream_gpu_provisioner() -> None:
    request = InstanceRequest(
        "ws1",
        "Standard_NC24ads_A100_v4",
        labels={"kaito.sh/workspace": "falcon", "karpenter.sh/nodepool": "kaito"},
        taints=[Taint("sku", "gpu")],
        os_disk_size_gb=1024,
        image_family="azurelinux",
        tags={"team": "ml"},
    )
    body = wire(build_agent_pool(request, NOW))
    assert body == {
        "properties": {
            "count": 1,
            "vmSize": "Standard_NC24ads_A100_v4",
            "osType": "Linux",
            "osSKU": "AzureLinux",
            "type": "VirtualMachineScaleSets",
            "mode": "User",
            "osDiskSizeGB": 1024,
            "nodeLabels": {
                "karpenter.sh/nodepool": "kaito",
                "kaito.sh/workspace": "falcon",
                "kaito.sh/machine-type": "gpu",
                "kaito.sh/creation-timestamp": "2025-03-04T05-06-07Z",
            },
            "nodeTaints": ["sku=gpu:NoSchedule"],
            "tags": {"team": "ml", "kaito-managed": "true"},
        }
    }


def test_defaults_ubuntu_and_leaves_disk_size_to_aks() -> None:
    props = wire(build_agent_pool(InstanceRequest("ws1", "Standard_D4s_v3"), NOW))["properties"]
    assert props["osSKU"] == "Ubuntu"
    assert "osDiskSizeGB" not in props
    assert props["nodeLabels"]["kaito.sh/machine-type"] == "cpu"


def test_creation_timestamp_comes_from_the_request_when_given() -> None:
    created = datetime(2024, 12, 31, 23, 59, 58, tzinfo=UTC)
    request = InstanceRequest("ws1", "Standard_NC6s_v3", created_at=created)
    labels = wire(build_agent_pool(request, NOW))["properties"]["nodeLabels"]
    assert labels["kaito.sh/creation-timestamp"] == "2024-12-31T23-59-58Z"


def test_kaito_labels_win_over_request_labels() -> None:
    request = InstanceRequest("ws1", "Standard_D4s_v3", labels={"kaito.sh/machine-type": "gpu"})
    labels = wire(build_agent_pool(request, NOW))["properties"]["nodeLabels"]
    assert labels["kaito.sh/machine-type"] == "cpu"


@pytest.mark.parametrize(
    ("request_", "match"),
    [
        (InstanceRequest("WS1", "Standard_NC6s_v3"), "must match"),
        (InstanceRequest("ws1", ""), "no instance type"),
        (InstanceRequest("ws1", "Standard_NC6s_v3", os_disk_size_gb=0), "must be positive"),
    ],
)
def test_bad_requests_never_reach_azure(request_: InstanceRequest, match: str) -> None:
    with pytest.raises(InvalidRequest, match=match):
        build_agent_pool(request_, NOW)


def test_machine_type() -> None:
    assert machine_type("Standard_NC96ads_A100_v4") == "gpu"
    assert machine_type("Standard_ND96asr_v4") == "gpu"
    assert machine_type("Standard_D8s_v5") == "cpu"


def test_creation_timestamp_round_trips_and_rejects_junk() -> None:
    assert parse_creation_timestamp(format_creation_timestamp(NOW)) == NOW
    assert parse_creation_timestamp("2025-03-04T05:06:07Z") is None


@pytest.mark.parametrize(
    ("provisioning_state", "state"),
    [
        ("Creating", InstanceState.CREATING),
        ("Succeeded", InstanceState.RUNNING),
        ("Updating", InstanceState.RUNNING),
        ("Scaling", InstanceState.RUNNING),
        ("Deleting", InstanceState.DELETING),
        ("Failed", InstanceState.FAILED),
        ("Canceled", InstanceState.FAILED),
    ],
)
def test_instance_state(provisioning_state: str, state: InstanceState) -> None:
    assert instance_state(provisioning_state) is state


def pool(properties: dict[str, Any], **top: Any) -> AgentPool:
    return AgentPool({"name": "ws1", "properties": properties, **top})


def test_ownership_by_tag_or_by_upstream_labels() -> None:
    assert is_kaito_pool(pool({"tags": {"kaito-managed": "true"}}))
    assert is_kaito_pool(
        pool({"nodeLabels": {"karpenter.sh/nodepool": "kaito", "kaito.sh/workspace": "w"}})
    )
    assert is_kaito_pool(
        pool({"nodeLabels": {"karpenter.sh/nodepool": "kaito", "kaito.sh/ragengine": "r"}})
    )
    assert not is_kaito_pool(pool({"nodeLabels": {"karpenter.sh/nodepool": "kaito"}}))
    assert not is_kaito_pool(pool({"nodeLabels": {"kaito.sh/workspace": "w"}}))
    assert not is_kaito_pool(pool({"tags": {"kaito-managed": "false"}}))
    assert not is_kaito_pool(AgentPool({"name": "nodepool1"}))


def test_instance_from_a_running_pool_with_its_node() -> None:
    node = PoolNode("ws1", "aks-ws1-123-vmss000000", "azure:///subscriptions/x/vm/0")
    instance = instance_from_pool(
        pool(
            {
                "vmSize": "Standard_NC6s_v3",
                "provisioningState": "Succeeded",
                "nodeLabels": {"kaito.sh/creation-timestamp": "2025-03-04T05-06-07Z"},
                "nodeImageVersion": "AKSUbuntu-2204gen2containerd-202501.01.0",
            },
            id=ARM_ID,
        ),
        arm_id="unused",
        node=node,
    )
    assert instance.name == "ws1"
    assert instance.state is InstanceState.RUNNING
    assert instance.instance_type == "Standard_NC6s_v3"
    assert instance.provider_id == node.provider_id
    assert instance.node_name == node.name
    assert instance.created_at == NOW
    assert instance.image_id == "AKSUbuntu-2204gen2containerd-202501.01.0"
    assert instance.message is None


def test_instance_without_node_uses_the_arm_id() -> None:
    with_id = instance_from_pool(pool({"provisioningState": "Creating"}, id=ARM_ID), arm_id="x")
    assert with_id.provider_id == ARM_ID
    assert with_id.node_name is None
    without_id = instance_from_pool(pool({}), arm_id=ARM_ID)
    assert without_id.provider_id == ARM_ID


def test_created_at_falls_back_to_system_data() -> None:
    instance = instance_from_pool(
        pool({}, systemData={"createdAt": "2025-03-04T05:06:07Z"}), arm_id=ARM_ID
    )
    assert instance.created_at == NOW


def test_failed_pool_carries_the_clouds_message() -> None:
    error = {"code": "SkuNotAvailable", "message": "not available in location 'eastus'"}
    instance = instance_from_pool(
        pool({"provisioningState": "Failed", "status": {"provisioningError": error}}),
        arm_id=ARM_ID,
    )
    assert instance.state is InstanceState.FAILED
    assert instance.message == "not available in location 'eastus'"
