"""The cloud provider interface the NodeClaim reconciler drives.

It mirrors Karpenter's ``cloudprovider.CloudProvider`` (``Create``/``Get``/``List``/``Delete``)
as upstream's gpu-provisioner implements it, but speaks in small frozen values instead of
NodeClaims, so providers know nothing about Kubernetes objects and can be tested alone.
One NodeClaim is one instance; the instance name is the NodeClaim name, which is what makes a
repeated ``create`` (after a restart) find the instance instead of making a second one.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Protocol

import attrs

from kaito.provisioner.cloud.errors import (
    CloudError,
    CreateInProgress,
    InstanceNotFound,
    InvalidRequest,
    QuotaExceeded,
    SkuUnavailable,
    Throttled,
    TransientError,
)

__all__ = [
    "CloudError",
    "CloudProvider",
    "CreateInProgress",
    "ImageFamily",
    "Instance",
    "InstanceNotFound",
    "InstanceRequest",
    "InstanceState",
    "InvalidRequest",
    "QuotaExceeded",
    "SkuUnavailable",
    "Taint",
    "Throttled",
    "TransientError",
]


def _str_dict(value: Mapping[str, str]) -> dict[str, str]:
    return dict(value)


def _taints(value: Iterable[Taint]) -> tuple[Taint, ...]:
    return tuple(value)


class InstanceState(enum.StrEnum):
    """Where an instance is in its life."""

    CREATING = "creating"
    RUNNING = "running"
    DELETING = "deleting"
    FAILED = "failed"


class ImageFamily(enum.StrEnum):
    """Node OS image, from the NodeClaim annotation ``kaito.sh/node-image-family``."""

    UBUNTU = "ubuntu"
    AZURE_LINUX = "azurelinux"


def _image_family(value: str) -> ImageFamily:
    try:
        return ImageFamily(value.lower())
    except ValueError:
        allowed = ", ".join(f.value for f in ImageFamily)
        raise InvalidRequest(
            f"unsupported node image family {value!r}; expected one of: {allowed}"
        ) from None


@attrs.frozen
class Taint:
    """A Node taint the instance's node must carry (``key=value:Effect``)."""

    key: str
    value: str = ""
    effect: str = "NoSchedule"
    """``NoSchedule``, ``PreferNoSchedule`` or ``NoExecute``."""

    def __str__(self) -> str:
        return (
            f"{self.key}={self.value}:{self.effect}" if self.value else f"{self.key}:{self.effect}"
        )


@attrs.frozen
class InstanceRequest:
    """What to create: one node of ``instance_type``, named after its NodeClaim."""

    name: str
    """Instance name = NodeClaim name (deterministic, so a retry finds the first attempt)."""
    instance_type: str
    """Cloud machine size, e.g. ``Standard_NC24ads_A100_v4``."""
    labels: dict[str, str] = attrs.field(factory=dict, converter=_str_dict)
    """Labels the node must carry (the NodeClaim's labels)."""
    taints: tuple[Taint, ...] = attrs.field(default=(), converter=_taints)
    """Taints the node must carry (the NodeClaim's taints)."""
    os_disk_size_gb: int | None = None
    """OS disk size from the NodeClaim's storage request; None leaves the cloud's default."""
    image_family: ImageFamily = attrs.field(default=ImageFamily.UBUNTU, converter=_image_family)
    """Node OS image family (case-insensitive; anything else raises InvalidRequest)."""
    tags: dict[str, str] = attrs.field(factory=dict, converter=_str_dict)
    """Extra cloud tags, on top of the tag every provider adds to mark the instance kaito's."""
    created_at: datetime | None = None
    """When the NodeClaim was created (recorded on the instance); None means now."""


@attrs.frozen
class Instance:
    """What the cloud says exists."""

    name: str
    """Instance name (= NodeClaim name)."""
    provider_id: str
    """The Node's ``spec.providerID`` once ``node_name`` is known; until then the cloud's own
    id for the instance (on Azure the agent pool's ARM resource id)."""
    state: InstanceState
    instance_type: str
    labels: dict[str, str] = attrs.field(factory=dict, converter=_str_dict)
    """Labels the cloud puts on the instance's node."""
    node_name: str | None = None
    """The Kubernetes Node backing the instance, once it has registered and been found."""
    created_at: datetime | None = None
    """When the instance (or its NodeClaim) was created, if the cloud recorded it."""
    image_id: str | None = None
    """Node image version, copied to the NodeClaim's ``status.imageID``."""
    message: str | None = None
    """The cloud's words about a failed instance, if it gave any."""


class CloudProvider(Protocol):
    """Creates, finds and deletes one node per NodeClaim.

    Every method raises a :class:`CloudError` subclass on failure and nothing else.
    """

    async def create(self, request: InstanceRequest) -> Instance:
        """Create the instance and return it once the cloud reports it running.

        Idempotent: when an instance of that name already exists or is being created, adopt
        it (wait for it) instead of creating another.
        """
        ...

    async def get(self, name: str) -> Instance | None:
        """The instance called ``name``, or None if there is none."""
        ...

    async def list(self) -> list[Instance]:
        """Every instance this provider created (marked as kaito's), in any state."""
        ...

    async def delete(self, name: str) -> None:
        """Delete the instance and return once it is gone.

        Raises :class:`InstanceNotFound` when there is no such instance, which callers that
        want it gone treat as success.
        """
        ...
