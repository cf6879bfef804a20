"""The NodeClaim reconciler: one NodeClaim becomes exactly one node, and back.

Upstream runs Karpenter core with the gpu-provisioner cloud provider; this is the same
lifecycle in one reconciler. For each NodeClaim of the ``kaito`` nodepool it:

1. adds the ``karpenter.sh/termination`` finalizer;
2. creates the instance through the cloud provider (idempotent: the instance is named after
   the NodeClaim, so a create repeated after a restart adopts what is there);
3. records ``providerID``, ``nodeName``, ``imageID``, capacity/allocatable, and Karpenter's
   ``Launched``/``Registered``/``Initialized``/``Ready`` conditions; a refused create sets
   ``Launched=False`` with the cloud's words, retried with backoff only when retrying can help;
4. on deletion deletes the instance and its Node, then drops the finalizer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from typing import Any

from kaito import kinds
from kaito.api import constants as c
from kaito.api.quantity import QuantityError, parse_quantity
from kaito.provisioner.cloud.base import (
    CloudError,
    CloudProvider,
    Instance,
    InstanceNotFound,
    InstanceRequest,
    InvalidRequest,
    Taint,
)
from kaito.provisioner.cloud.kwok import INSTANCE_LABEL
from kaito.provisioner.cloud.local import INSTANCE_LABEL as LOCAL_INSTANCE_LABEL
from kaito.provisioner.metrics import record_nodeclaim_states, timed_call
from kaito.runtime import resources as r
from kaito.runtime.cache import InformerCache
from kaito.runtime.client import Client
from kaito.runtime.conditions import Condition, is_object_condition_true
from kaito.runtime.errors import ApiError, Conflict, NotFound
from kaito.runtime.events import EventRecorder
from kaito.runtime.reconcile import Request, Result
from kaito.runtime.status import write_status, write_status_unless_held
from kaito.runtime.status_hold import NO_HOLD, StatusHold

log = logging.getLogger(__name__)

TERMINATION_FINALIZER = "karpenter.sh/termination"
NODEPOOL = "kaito"
WAIT_FOR_NODE = 2.0


class RetryLater(Exception):
    """A retryable cloud failure: the controller requeues with backoff."""


def is_kaito_claim(obj: dict[str, Any]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(c.LABEL_NODEPOOL) == NODEPOOL


def _requirement(claim: dict[str, Any], key: str) -> str | None:
    for req in (claim.get("spec") or {}).get("requirements") or []:
        if req.get("key") == key and req.get("operator") == "In" and req.get("values"):
            return str(req["values"][0])
    return None


def _storage_gb(claim: dict[str, Any]) -> int | None:
    """The storage request in whole GiB (rounded down, as upstream's ``>> 30``), or None."""
    raw = (((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")
    if not raw:
        return None
    try:
        value = parse_quantity(raw)
    except QuantityError as exc:
        raise InvalidRequest(f"storage request: {exc}", code="InvalidStorageRequest") from None
    return max(1, value >> 30)


def instance_request(claim: dict[str, Any]) -> InstanceRequest:
    """What to ask the cloud for, read from a NodeClaim."""
    metadata = claim.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    created = metadata.get("creationTimestamp")
    return InstanceRequest(
        name=metadata["name"],
        instance_type=_requirement(claim, c.LABEL_INSTANCE_TYPE) or "",
        labels=dict(metadata.get("labels") or {}),
        taints=[
            Taint(t["key"], t.get("value", ""), t.get("effect", "NoSchedule"))
            for t in (claim.get("spec") or {}).get("taints") or []
        ],
        os_disk_size_gb=_storage_gb(claim),
        image_family=annotations.get(c.ANNOTATION_NODE_IMAGE_FAMILY, "ubuntu"),
        created_at=dt.datetime.fromisoformat(created.replace("Z", "+00:00")) if created else None,
    )


def claim_name_of_node(node: dict[str, Any]) -> str | None:
    """The NodeClaim a Node belongs to: kwok and local nodes carry the NodeClaim's name, AKS
    nodes name their agent pool (= NodeClaim) in ``kubernetes.azure.com/agentpool``."""
    metadata = node.get("metadata") or {}
    labels = metadata.get("labels") or {}
    if labels.get(INSTANCE_LABEL) == "true" or labels.get(LOCAL_INSTANCE_LABEL) == "true":
        return str(metadata.get("name", "")) or None
    pool = labels.get(c.LABEL_AZURE_AGENTPOOL) or labels.get(c.LABEL_AGENTPOOL)
    if pool and labels.get(c.LABEL_NODEPOOL) == NODEPOOL:
        return str(pool)
    return None


class NodeClaimReconciler:
    def __init__(
        self,
        client: Client,
        cache: InformerCache,
        provider: CloudProvider,
        *,
        recorder: EventRecorder,
        hold: StatusHold | None = None,
    ) -> None:
        self.client = client
        self.cache = cache
        self.provider = provider
        self.recorder = recorder
        self.hold = hold if hold is not None else NO_HOLD
        """Intermediate statuses waiting to be written (:mod:`kaito.runtime.status_hold`)."""
        self._refused: set[tuple[str, str]] = set()
        """(name, uid) of NodeClaims the cloud refused for good: not asked again."""
        self._launched: dict[tuple[str, str], Instance] = {}
        """Instances created for NodeClaims whose cached status does not show it yet
        (Karpenter's launch cache): a reconcile on a stale cache must not create again."""

    async def reconcile(self, request: Request) -> Result:
        try:
            return await self._reconcile(request)
        finally:
            record_nodeclaim_states(
                claim for claim in self.cache.list(kinds.NODECLAIM) if is_kaito_claim(claim)
            )

    async def _reconcile(self, request: Request) -> Result:
        claim = self.cache.get(kinds.NODECLAIM, request.name)
        if claim is None or not is_kaito_claim(claim):
            self._forget(request.name)
            self.hold.forget((kinds.NODECLAIM.plural, None, request.name))
            return Result()
        metadata = claim["metadata"]
        finalizers = list(metadata.get("finalizers") or [])
        if metadata.get("deletionTimestamp"):
            if TERMINATION_FINALIZER in finalizers:
                await self._terminate(claim, finalizers)
            return Result()
        if TERMINATION_FINALIZER not in finalizers:
            await self.client.patch(
                kinds.NODECLAIM,
                metadata["name"],
                {
                    "metadata": {
                        "finalizers": [*finalizers, TERMINATION_FINALIZER],
                        "resourceVersion": metadata["resourceVersion"],
                    }
                },
            )
        status = claim.get("status") or {}
        key = (metadata["name"], metadata.get("uid", ""))
        instance: Instance | None = None
        if status.get("providerID"):
            self._launched.pop(key, None)
        elif key in self._refused:
            return Result()
        else:
            instance = self._launched.get(key) or await self._launch(claim)
            if instance is None:
                return Result()
            self._launched[key] = instance
        node = self._node_for(claim, instance)
        ready = is_object_condition_true(node, "Ready")
        held = await self._write_status(claim, instance, node, settled=ready)
        if not ready:
            return Result(requeue_after=min(WAIT_FOR_NODE, held or WAIT_FOR_NODE))
        return Result()

    def _forget(self, name: str) -> None:
        """Drop what is remembered about NodeClaims called ``name`` (any uid)."""
        self._refused = {key for key in self._refused if key[0] != name}
        for key in [key for key in self._launched if key[0] == name]:
            del self._launched[key]

    # -- launch ------------------------------------------------------------------------
    async def _launch(self, claim: dict[str, Any]) -> Instance | None:
        name = claim["metadata"]["name"]
        try:
            request = instance_request(claim)
            async with timed_call("create"):
                instance = await self.provider.create(request)
        except CloudError as exc:
            reason = exc.code or type(exc).__name__
            await write_status(
                self.client,
                kinds.NODECLAIM,
                claim,
                [Condition("Launched", "False", reason, str(exc.message)[:1024])],
            )
            await self.recorder.event(claim, "Warning", "LaunchFailed", f"{name}: {exc}"[:1024])
            if exc.retryable:
                raise RetryLater(f"launching {name}: {exc}") from exc
            log.warning("NodeClaim %s cannot launch (not retried): %s", name, exc)
            self._refused.add((name, claim["metadata"].get("uid", "")))
            return None
        # No Normal Event: the Launched condition says it, one API write fewer per node.
        log.info("launched %s instance %s", request.instance_type, name)
        return instance

    def _node_for(self, claim: dict[str, Any], instance: Instance | None) -> dict[str, Any] | None:
        """The claim's Node: by name, by providerID, else the one labelled as its instance's
        (a restarted provisioner whose claim recorded the cloud's id before the Node joined)."""
        status = claim.get("status") or {}
        name = (instance.node_name if instance else None) or status.get("nodeName")
        if name:
            return self.cache.get(r.NODE, name)
        provider_id = (instance.provider_id if instance else None) or status.get("providerID")
        claim_name = claim["metadata"]["name"]
        by_label = None
        for node in self.cache.list(r.NODE):
            if provider_id and (node.get("spec") or {}).get("providerID") == provider_id:
                return node
            if by_label is None and claim_name_of_node(node) == claim_name:
                by_label = node
        if by_label is not None and not (by_label.get("spec") or {}).get("providerID"):
            return None  # joined, but not initialised by the cloud provider yet
        return by_label

    async def _write_status(
        self,
        claim: dict[str, Any],
        instance: Instance | None,
        node: dict[str, Any] | None,
        *,
        settled: bool,
    ) -> float | None:
        current = claim.get("status") or {}
        patch: dict[str, Any] = {}
        if instance is not None:
            if instance.image_id and current.get("imageID") != instance.image_id:
                patch["imageID"] = instance.image_id
            if node is None and instance.provider_id and not current.get("providerID"):
                # Launched: remember the cloud's id so no second create is ever asked for.
                patch["providerID"] = instance.provider_id
        if node is not None:
            node_status = node.get("status") or {}
            node_name = node["metadata"]["name"]
            provider_id = (node.get("spec") or {}).get("providerID")
            for key, value in (
                ("nodeName", node_name),
                ("providerID", provider_id),
                ("capacity", node_status.get("capacity")),
                ("allocatable", node_status.get("allocatable")),
            ):
                if value and current.get(key) != value:
                    patch[key] = value
        registered = node is not None
        ready = is_object_condition_true(node, "Ready")
        updates = [
            Condition("Launched", "True", "Launched"),
            Condition(
                "Registered",
                "True" if registered else "False",
                "Registered" if registered else "NodeNotFound",
                "" if registered else "Node not registered with cluster",
            ),
            Condition(
                "Initialized",
                "True" if ready else "False",
                "Initialized" if ready else "NodeNotReady",
                "" if ready else "Node status is NotReady",
            ),
            Condition(
                "Ready",
                "True" if ready else "False",
                "Ready" if ready else "NotReady",
                "" if ready else "Initialized=False",
            ),
        ]
        return await write_status_unless_held(
            self.client, kinds.NODECLAIM, claim, updates, patch, hold=self.hold, settled=settled
        )

    # -- termination ---------------------------------------------------------------------
    async def _terminate(self, claim: dict[str, Any], finalizers: list[str]) -> None:
        metadata = claim["metadata"]
        name = metadata["name"]
        key = (name, metadata.get("uid", ""))
        self._launched.pop(key, None)
        self._refused.discard(key)
        try:
            async with timed_call("delete"):
                await self.provider.delete(name)
        except InstanceNotFound:
            pass
        except CloudError as exc:
            await self.recorder.event(
                claim, "Warning", "TerminationFailed", f"{name}: {exc}"[:1024]
            )
            raise RetryLater(f"deleting instance {name}: {exc}") from exc
        node = self._node_for(claim, None)
        node_name = (claim.get("status") or {}).get("nodeName") or (
            node["metadata"]["name"] if node is not None else None
        )
        if node_name:
            with contextlib.suppress(NotFound):
                await self.client.delete(r.NODE, node_name)
        remaining = [f for f in finalizers if f != TERMINATION_FINALIZER]
        try:
            await self.client.patch(
                kinds.NODECLAIM,
                name,
                {
                    "metadata": {
                        "finalizers": remaining,
                        "resourceVersion": metadata["resourceVersion"],
                    }
                },
            )
        except (NotFound, Conflict):
            return
        except ApiError:
            raise
        await self.recorder.event(
            claim, "Normal", "Terminated", f"Deleted instance and node {name}"
        )
