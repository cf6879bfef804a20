"""Karpenter's ``karpenter.sh/v1`` NodeClaim, limited to the fields kaito sets and reads.

kaito asks for one GPU node per NodeClaim (upstream ``pkg/utils/nodeclaim``); a
cloud provider (Azure gpu-provisioner or kwok) turns it into a Node and fills
``status``. Quantities are kept as the strings or integers the API server sent.
"""

from __future__ import annotations

import attrs

from kaito.api import constants as c
from kaito.api.fields import meta
from kaito.api.meta import Condition, JSONDict, find_condition

Quantity = str | int


@attrs.frozen(kw_only=True)
class Taint:
    """A node taint the NodeClaim's node must carry (kaito: ``sku=gpu:NoSchedule``)."""

    key: str
    effect: str
    value: str | None = None
    time_added: str | None = None


@attrs.frozen(kw_only=True)
class NodeSelectorRequirement:
    """A scheduling requirement: ``key`` ``operator`` (In, NotIn, Exists, Gt, ...) ``values``."""

    key: str
    operator: str
    values: list[str] | None = None
    min_values: int | None = None


@attrs.frozen(kw_only=True)
class ResourceRequirements:
    """``spec.resources``: ``requests`` such as ``storage`` (the OS disk size)."""

    requests: dict[str, Quantity] | None = None


@attrs.frozen(kw_only=True)
class NodeClassReference:
    """``spec.nodeClassRef``: the cloud's node class (``kaito.sh/KaitoNodeClass default``)."""

    group: str
    kind: str
    name: str


@attrs.frozen(kw_only=True)
class NodeClaimSpec:
    """``spec`` of a NodeClaim."""

    taints: list[Taint] | None = None
    startup_taints: list[Taint] | None = None
    requirements: list[NodeSelectorRequirement] | None = None
    resources: ResourceRequirements | None = None
    node_class_ref: NodeClassReference | None = None
    expire_after: str | None = None
    termination_grace_period: str | None = None

    def requirement_values(self, key: str) -> list[str]:
        """Values of the first requirement on ``key`` (empty when absent)."""
        for req in self.requirements or ():
            if req.key == key:
                return list(req.values or ())
        return []

    @property
    def instance_type(self) -> str | None:
        """First value of the ``node.kubernetes.io/instance-type`` requirement."""
        values = self.requirement_values(c.LABEL_INSTANCE_TYPE)
        return values[0] if values else None


@attrs.frozen(kw_only=True)
class NodeClaimStatus:
    """``status``: the node it became, its capacity, and Launched/Registered/Initialized/Ready."""

    node_name: str | None = None
    provider_id: str | None = attrs.field(default=None, metadata=meta(wire="providerID"))
    image_id: str | None = attrs.field(default=None, metadata=meta(wire="imageID"))
    capacity: dict[str, Quantity] | None = None
    allocatable: dict[str, Quantity] | None = None
    conditions: list[Condition] | None = None
    last_pod_event_time: str | None = None


@attrs.frozen(kw_only=True)
class NodeClaim:
    """A cluster-scoped NodeClaim object; ``metadata`` is kept as the API server's dict."""

    api_version: str = attrs.field(default=c.NODECLAIM_API_VERSION, metadata=meta(always=True))
    kind: str = attrs.field(default=c.NODECLAIM_KIND, metadata=meta(always=True))
    metadata: JSONDict = attrs.field(factory=dict, metadata=meta(always=True))
    spec: NodeClaimSpec = attrs.field(factory=NodeClaimSpec, metadata=meta(always=True))
    status: NodeClaimStatus | None = None

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.metadata.get("labels") or {})

    @property
    def annotations(self) -> dict[str, str]:
        return dict(self.metadata.get("annotations") or {})

    @property
    def deleting(self) -> bool:
        return self.metadata.get("deletionTimestamp") is not None

    def condition(self, type_: str) -> Condition | None:
        return find_condition(self.status.conditions if self.status else None, type_)
