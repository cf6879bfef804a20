"""What every phase of a Workspace reconcile reads and writes through: one context.

The reconciler's phases (:mod:`.revision_sync`, :mod:`.node_sync`, :mod:`.inference_sync` or
:mod:`.tuning_sync`, :mod:`.finalize`) are functions of ``(ctx, ws, ...)``: the
:class:`Context` carries the API client, the informer cache, the operator's settings, the
catalog and the Event recorder, plus what earlier phases of this pass decided (the resolved
preset and instance type, the ``ResourceReady`` condition). Only the typed
:class:`~kaito.api.workspace.Workspace` travels between phases; Events and status writes
take their object reference from it. :class:`Outcome` is what a workload phase hands back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import attrs

from kaito import kinds
from kaito.api import constants as c
from kaito.api.catalog import Catalog
from kaito.api.wire import to_dict
from kaito.api.workspace import Workspace
from kaito.controllers.desired import Resolved
from kaito.controllers.nodes import label_pairs, workspace_of
from kaito.controllers.settings import Settings
from kaito.runtime import resources as r
from kaito.runtime.cache import InformerCache
from kaito.runtime.client import Client
from kaito.runtime.conditions import Condition
from kaito.runtime.errors import ApiError
from kaito.runtime.events import EventRecorder
from kaito.runtime.expectations import Expectations
from kaito.runtime.informer import CacheNotSynced
from kaito.runtime.resources import Object
from kaito.runtime.status import write_status_unless_held
from kaito.runtime.status_hold import NO_HOLD, StatusHold
from kaito.runtime.store import IndexFunc, index_by_label

log = logging.getLogger(__name__)

FIELD_MANAGER = "kaito-workspace"
"""The server-side apply field manager of everything the Workspace reconciler writes."""

# Cache indexes (client-go Indexers), so that a reconcile reads only its own Workspace's
# NodeClaims, pods and candidate nodes: listing whole kinds made every reconcile O(objects in
# the cluster) and N Workspaces O(N^2) (measured with hack/bench/workspaces.py).
BY_WORKSPACE = "kaito.sh/workspace"
"""``namespace/name`` of the Workspace (NodeClaims: two labels; pods: label + namespace)."""
NODES_BY_LABEL = "kaito.sh/label"
"""Every ``key=value`` label of a node."""
CONFIG_MAPS_NAMED = "kaito.sh/config"
"""``namespace/name`` of the ConfigMaps a Workspace names (``inference.config``,
``tuning.config``): a ConfigMap created or changed after the Workspace wakes it."""


def named_config_maps(obj: Object) -> list[str]:
    namespace = (obj.get("metadata") or {}).get("namespace") or ""
    names = [(obj.get(section) or {}).get("config") for section in ("inference", "tuning")]
    return [f"{namespace}/{name}" for name in names if isinstance(name, str) and name]


INDEXES: dict[r.ResourceType, dict[str, IndexFunc]] = {
    kinds.WORKSPACE: {CONFIG_MAPS_NAMED: named_config_maps},
    kinds.NODECLAIM: {BY_WORKSPACE: workspace_of},
    r.NODE: {NODES_BY_LABEL: label_pairs},
    r.POD: {BY_WORKSPACE: index_by_label(c.LABEL_WORKSPACE, with_namespace=True)},
}


@attrs.frozen
class Outcome:
    """What a workload phase (inference or tuning) found and wants written."""

    conditions: Sequence[Condition] = ()
    """The workload's conditions and the summary (``ResourceReady`` is the context's)."""
    state: str | None = None
    """``status.state`` (v1beta1)."""
    requeue_after: float | None = None
    """Look again after this long (None: the watches bring it back when something moves)."""
    problem: str | None = None
    """Why the Workspace cannot run as written: becomes InvalidSpec, and nothing else."""


@attrs.frozen
class Applied:
    """What an inference pass applied, as a fingerprint of everything its objects depend on:
    the Workspace's and its config's resourceVersions, the revision, and each object's
    resourceVersion in the cache. While it is unchanged the objects need no rendering."""

    objects: tuple[tuple[r.ResourceType, str], ...]
    workload: r.ResourceType
    fingerprint: tuple[str | None, ...]


@attrs.frozen
class Context:
    """The reconciler's collaborators and what this pass has decided so far."""

    client: Client
    cache: InformerCache
    settings: Settings
    catalog: Catalog
    recorder: EventRecorder
    hold: StatusHold = NO_HOLD
    """Intermediate statuses waiting to be written (:mod:`kaito.runtime.status_hold`)."""
    expected: Expectations = attrs.field(factory=Expectations)
    """NodeClaims this process created that the cache may not show yet."""
    applied: dict[str, Applied] = attrs.field(factory=dict)
    """Per Workspace key, what its last inference pass found in agreement with its spec."""
    resolved: Resolved | None = None
    """What serves the Workspace (set after the revision phase)."""
    resource: Condition | None = None
    """``ResourceReady`` of this pass (set by the node phase)."""

    def install_indexes(self) -> None:
        for rt, indexers in INDEXES.items():
            self.cache.informer(rt).add_indexers(indexers)

    def indexed(self, rt: r.ResourceType, index: str, value: str) -> list[dict[str, Any]]:
        """Cached objects of ``rt`` under ``value`` in one of :data:`INDEXES`."""
        informer = self.cache.informer(rt)
        if not informer.has_synced:
            raise CacheNotSynced(f"the {rt.kind} cache has not synced yet")
        return informer.store.by_index(index, value)

    def pods(self, ws: Workspace) -> list[dict[str, Any]]:
        return self.indexed(r.POD, BY_WORKSPACE, f"{ws.namespace}/{ws.name}")

    def need_resolved(self) -> Resolved:
        if self.resolved is None:
            raise RuntimeError("the workload phase runs after the revision phase resolved it")
        return self.resolved

    def need_resource(self) -> Condition:
        if self.resource is None:
            raise RuntimeError("the workload phase runs after the node phase")
        return self.resource

    async def event(self, ws: Workspace, type: str, reason: str, message: str) -> None:
        """An Event about ``ws`` (queued: the background writer sends it)."""
        await self.recorder.event(ws.reference, type, reason, message[:1024])

    async def write_status(
        self,
        ws: Workspace,
        conds: Sequence[Condition],
        worker_nodes: Sequence[str] | None = None,
        state: str | None = None,
        target_nodes: int | None = None,
        *,
        settled: bool = True,
    ) -> float | None:
        """Write what changed in the Workspace's status (nothing when nothing did). A change
        that is not ``settled`` may wait in :attr:`hold`: the seconds until it is due."""
        current = to_dict(ws.status) if ws.status is not None else {}
        fields: dict[str, Any] = {}
        if worker_nodes is not None:
            if list(worker_nodes) != (current.get("workerNodes") or []):
                fields["workerNodes"] = list(worker_nodes)
            fields["targetNodeCount"] = (
                target_nodes if target_nodes is not None else ws.resource.node_count
            )
        if state is not None:
            fields["state"] = state
        obj: Object = {"metadata": ws.metadata, "status": current}
        return await write_object_status(
            self.client, obj, conds, fields, hold=self.hold, settled=settled
        )


async def write_object_status(
    client: Client,
    obj: Object,
    conds: Sequence[Condition],
    fields: dict[str, Any] | None = None,
    *,
    hold: StatusHold | None = None,
    settled: bool = True,
) -> float | None:
    """:func:`~kaito.runtime.status.write_status_unless_held` for a Workspace dict (no hold:
    written at once); a refusal is logged with the Workspace's name and raised (the reconcile
    retries it)."""
    try:
        return await write_status_unless_held(
            client,
            kinds.WORKSPACE,
            obj,
            conds,
            fields,
            hold=hold if hold is not None else NO_HOLD,
            settled=settled,
        )
    except ApiError as exc:
        metadata = obj.get("metadata") or {}
        log.warning(
            "status of %s/%s not written: %s", metadata.get("namespace"), metadata["name"], exc
        )
        raise
