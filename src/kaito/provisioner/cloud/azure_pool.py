"""Translation between an :class:`InstanceRequest` / :class:`Instance` and an AKS agent pool.

The pool a request becomes is the one upstream's gpu-provisioner creates for a NodeClaim
(``gp:pkg/providers/instance/instance.go``): a VirtualMachineScaleSets pool of ``count=1``,
named after the NodeClaim, with its taints and labels plus ``kaito.sh/machine-type`` and
``kaito.sh/creation-timestamp``. Pure functions, so every rule is unit-testable without Azure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from azure.mgmt.containerservice.models import (
    AgentPool,
    AgentPoolManagedClusterAgentPoolProfileProperties,
)

from kaito.provisioner.cloud.azure_nodes import PoolNode
from kaito.provisioner.cloud.base import ImageFamily, Instance, InstanceRequest, InstanceState
from kaito.provisioner.cloud.errors import InvalidRequest

POOL_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]{0,11}$")
"""AKS Linux agent pool names: a lowercase letter, then up to 11 lowercase letters/digits."""

NODEPOOL_LABEL = "karpenter.sh/nodepool"
NODEPOOL_VALUE = "kaito"
MACHINE_TYPE_LABEL = "kaito.sh/machine-type"
CREATION_TIMESTAMP_LABEL = "kaito.sh/creation-timestamp"
CREATION_TIMESTAMP_FORMAT = "%Y-%m-%dT%H-%M-%SZ"
"""Go layout ``2006-01-02T15-04-05Z``: label values may not contain ``:``."""
WORKLOAD_LABELS = ("kaito.sh/workspace", "kaito.sh/ragengine")

MANAGED_TAG = "kaito-managed"
"""Tag marking a pool as kaito's (tag names may not contain ``/``, so not ``kaito.sh/...``)."""
MANAGED_TAG_VALUE = "true"

_OS_SKU = {ImageFamily.UBUNTU: "Ubuntu", ImageFamily.AZURE_LINUX: "AzureLinux"}

_STATES = {
    "creating": InstanceState.CREATING,
    "deleting": InstanceState.DELETING,
    "failed": InstanceState.FAILED,
    "canceled": InstanceState.FAILED,
}
"""provisioningState -> state; anything else (Succeeded, Updating, Scaling, Upgrading ...)
means the pool exists and its node serves."""


def validate_pool_name(name: str) -> None:
    """Raise :class:`InvalidRequest` unless ``name`` is a valid AKS agent pool name."""
    if not POOL_NAME_PATTERN.fullmatch(name):
        raise InvalidRequest(
            f"agent pool name {name!r} is invalid: it must match {POOL_NAME_PATTERN.pattern} "
            "(a lowercase letter followed by at most 11 lowercase letters or digits)",
            code="InvalidPoolName",
        )


def machine_type(vm_size: str) -> str:
    """``gpu`` for N-series sizes (``Standard_N...``), ``cpu`` otherwise, as upstream labels."""
    return "gpu" if "Standard_N" in vm_size else "cpu"


def format_creation_timestamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime(CREATION_TIMESTAMP_FORMAT)


def parse_creation_timestamp(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, CREATION_TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def pool_labels(request: InstanceRequest, created_at: datetime) -> dict[str, str]:
    """Node labels of the pool: ``karpenter.sh/nodepool`` < request labels < kaito's own."""
    return {
        NODEPOOL_LABEL: NODEPOOL_VALUE,
        **request.labels,
        MACHINE_TYPE_LABEL: machine_type(request.instance_type),
        CREATION_TIMESTAMP_LABEL: format_creation_timestamp(created_at),
    }


def build_agent_pool(request: InstanceRequest, now: datetime) -> AgentPool:
    """The AgentPool to PUT for ``request`` (``now`` stands in for a missing ``created_at``)."""
    validate_pool_name(request.name)
    if not request.instance_type:
        raise InvalidRequest(f"instance {request.name!r} has no instance type")
    if request.os_disk_size_gb is not None and request.os_disk_size_gb <= 0:
        raise InvalidRequest(
            f"instance {request.name!r}: OS disk size must be positive, "
            f"got {request.os_disk_size_gb} GB"
        )
    properties = AgentPoolManagedClusterAgentPoolProfileProperties(
        count=1,
        vm_size=request.instance_type,
        os_type="Linux",
        os_sku=_OS_SKU[request.image_family],
        type_properties_type="VirtualMachineScaleSets",
        mode="User",
        os_disk_size_gb=request.os_disk_size_gb,
        node_labels=pool_labels(request, request.created_at or now),
        node_taints=[str(taint) for taint in request.taints],
        tags={**request.tags, MANAGED_TAG: MANAGED_TAG_VALUE},
    )
    return AgentPool(properties=properties)


def is_kaito_pool(pool: AgentPool) -> bool:
    """Whether kaito owns ``pool``: tagged by us, or labelled as upstream's provisioner does
    (``karpenter.sh/nodepool=kaito`` and a workspace or RAG engine label)."""
    props = pool.properties
    if props is None:
        return False
    if (props.tags or {}).get(MANAGED_TAG) == MANAGED_TAG_VALUE:
        return True
    labels = props.node_labels or {}
    return labels.get(NODEPOOL_LABEL) == NODEPOOL_VALUE and any(
        key in labels for key in WORKLOAD_LABELS
    )


def instance_state(provisioning_state: str | None) -> InstanceState:
    return _STATES.get((provisioning_state or "").lower(), InstanceState.RUNNING)


def _created_at(pool: AgentPool, labels: Mapping[str, str]) -> datetime | None:
    stamp = labels.get(CREATION_TIMESTAMP_LABEL)
    if stamp and (parsed := parse_creation_timestamp(stamp)) is not None:
        return parsed
    system = pool.system_data
    return system.created_at if system is not None else None


def instance_from_pool(pool: AgentPool, *, arm_id: str, node: PoolNode | None = None) -> Instance:
    """The :class:`Instance` an agent pool stands for.

    ``arm_id`` is the pool's resource id, used as ``provider_id`` until its Node is known.
    """
    props = pool.properties or AgentPoolManagedClusterAgentPoolProfileProperties()
    labels = dict(props.node_labels or {})
    state = instance_state(props.provisioning_state)
    message = None
    if state is InstanceState.FAILED and props.status is not None:
        error = props.status.provisioning_error
        if error is not None:
            message = error.message or error.code
    return Instance(
        name=pool.name or "",
        provider_id=node.provider_id if node else (pool.id or arm_id),
        state=state,
        instance_type=props.vm_size or "",
        labels=labels,
        node_name=node.name if node else None,
        created_at=_created_at(pool, labels),
        image_id=props.node_image_version,
        message=message,
    )
