"""The Workspace reconciler: from ``kubectl apply`` to WorkspaceReady, and back to nothing.

Level-triggered and idempotent, like every controller-runtime reconciler: each call
reads the world from the informer cache, computes what should exist, writes only the
difference and recomputes status from what it saw. It never sleeps: while nodes or pods
are on their way it returns a requeue, and watches on NodeClaims, Nodes, the workload
and its pods bring it back as soon as something moves. NodeClaim and ControllerRevision
names are derived from the Workspace, so a crash between "create" and "see it in the
cache" can only ever meet AlreadyExists, never make a second node.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from kaito import kinds
from kaito.api import constants as c
from kaito.api.catalog import Catalog, GPUConfig
from kaito.api.validation import validate_create
from kaito.api.wire import WireError, workspace_from_dict
from kaito.api.workspace import Workspace
from kaito.controllers import (
    claim_creation,
    desired,
    immutability,
    nodeclaims,
    revision,
    status,
)
from kaito.controllers.diff import needs_apply
from kaito.controllers.nodes import (
    NodePlan,
    gpu_capacity,
    label_pairs,
    plan_nodes,
    selector_index_value,
    selector_text,
    workspace_of,
)
from kaito.controllers.settings import Settings
from kaito.controllers.tuning_sync import sync_tuning
from kaito.controllers.upstream_command import adopt_flag_order
from kaito.controllers.workload import owner_reference
from kaito.runtime import resources as r
from kaito.runtime.cache import InformerCache
from kaito.runtime.client import Client
from kaito.runtime.conditions import Condition
from kaito.runtime.errors import (
    AlreadyExists,
    ApiError,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
)
from kaito.runtime.events import EventRecorder
from kaito.runtime.informer import CacheNotSynced
from kaito.runtime.reconcile import Request, Result
from kaito.runtime.status import write_status
from kaito.runtime.store import IndexFunc, index_by_label

log = logging.getLogger(__name__)

FIELD_MANAGER = "kaito-workspace"
WAIT_FOR_NODES = 15.0
"""Requeue while nodes come up (watches usually come back sooner)."""
WAIT_FOR_WORKLOAD = 30.0
WAIT_FOR_DELETION = 2.0

# Cache indexes (client-go Indexers), so that a reconcile reads only its own Workspace's
# NodeClaims, pods and candidate nodes: listing whole kinds made every reconcile O(objects in
# the cluster) and N Workspaces O(N^2) (measured with hack/bench/workspaces.py).
BY_WORKSPACE = "kaito.sh/workspace"
"""``namespace/name`` of the Workspace (NodeClaims: two labels; pods: label + namespace)."""
NODES_BY_LABEL = "kaito.sh/label"
"""Every ``key=value`` label of a node."""
_pods_by_workspace = index_by_label(c.LABEL_WORKSPACE, with_namespace=True)
INDEXES: dict[r.ResourceType, dict[str, IndexFunc]] = {
    kinds.NODECLAIM: {BY_WORKSPACE: workspace_of},
    r.NODE: {NODES_BY_LABEL: label_pairs},
    r.POD: {BY_WORKSPACE: _pods_by_workspace},
}

KINDS_BY_NAME: dict[str, r.ResourceType] = {
    "ConfigMap": r.CONFIG_MAP,
    "Service": r.SERVICE,
    "Deployment": r.DEPLOYMENT,
    "StatefulSet": r.STATEFUL_SET,
    "Job": r.JOB,
}


class WorkspaceReconciler:
    """Reconciles one Workspace key at a time (the controller runs several in parallel)."""

    def __init__(
        self,
        client: Client,
        cache: InformerCache,
        *,
        settings: Settings,
        catalog: Catalog,
        recorder: EventRecorder,
    ) -> None:
        self.client = client
        self.cache = cache
        self.settings = settings
        self.catalog = catalog
        self.recorder = recorder
        for rt, indexers in INDEXES.items():
            cache.informer(rt).add_indexers(indexers)

    def _indexed(self, rt: r.ResourceType, index: str, value: str) -> list[dict[str, Any]]:
        """Cached objects of ``rt`` under ``value`` in one of :data:`INDEXES`."""
        informer = self.cache.informer(rt)
        if not informer.has_synced:
            raise CacheNotSynced(f"the {rt.kind} cache has not synced yet")
        return informer.store.by_index(index, value)

    # -- entry point ---------------------------------------------------------------------
    async def reconcile(self, request: Request) -> Result:
        obj = self.cache.get(kinds.WORKSPACE, request.name, request.namespace)
        if obj is None:
            return Result()
        try:
            ws = workspace_from_dict(obj)
        except WireError as exc:
            await self._write_status(obj, status.invalid_spec(f"cannot read the Workspace: {exc}"))
            return Result()
        if ws.deleting:
            return await self._finalize(ws, obj)
        try:
            return await self._reconcile_spec(ws, obj)
        except Invalid as exc:
            # The API server refused an object made from this spec (a 422): retrying the
            # same write can only fail again, so say why and wait for the spec to change.
            message = f"the API server refused an object made from this Workspace: {exc}"
            await self.recorder.event(obj, "Warning", c.REASON_INVALID_SPEC, message[:1024])
            try:
                await self._write_status(obj, status.invalid_spec(message))
            except Invalid:
                log.warning("status of %s/%s refused: %s", ws.namespace, ws.name, message)
            return Result()
        except Forbidden as exc:
            # A 403 (RBAC, or another admission webhook) on a write: it can succeed once the
            # roles change, which no watch reports, so it is retried with backoff (the raise,
            # logged as a reconcile error); the Workspace says what was refused meanwhile.
            message = f"the API server refused a write kaito needs (403): {exc}"
            await self.recorder.event(obj, "Warning", c.REASON_PERMISSION_DENIED, message[:1024])
            try:
                await self._write_status(
                    obj, status.summary("False", c.REASON_PERMISSION_DENIED, message[:1024])
                )
            except ApiError as status_error:
                log.warning("status of %s/%s not written: %s", ws.namespace, ws.name, status_error)
            raise

    async def _reconcile_spec(self, ws: Workspace, obj: dict[str, Any]) -> Result:
        verdict = validate_create(
            ws,
            node_auto_provisioning=self.settings.node_auto_provisioning,
            cloud=self.settings.cloud,
            catalog=self.catalog,
            trusted_data_networks=self.settings.data_networks,
            max_node_count=self.settings.max_nodes_per_workspace,
            runtime_contract=self.settings.runtime_contract,
        )
        if verdict.errors:
            await self._patch_metadata(ws, {})
            message = "; ".join(verdict.errors)
            await self.recorder.event(obj, "Warning", c.REASON_INVALID_SPEC, message[:1024])
            await self._write_status(obj, status.invalid_spec(message))
            return Result()

        refused = immutability.refused_update(
            ws,
            str(obj.get("apiVersion") or ""),
            self.cache.list(
                r.CONTROLLER_REVISION, ws.namespace, labels={c.LABEL_WORKSPACE_NAME: ws.name}
            ),
            node_auto_provisioning=self.settings.node_auto_provisioning,
            max_node_count=self.settings.max_nodes_per_workspace,
        )
        if refused is not None:
            await self.recorder.event(obj, "Warning", c.REASON_INVALID_SPEC, refused[:1024])
            await self._write_status(obj, status.invalid_spec(refused))
            return Result()
        rev, annotations = await self._sync_revision(ws, obj)
        await self._patch_metadata(ws, annotations)
        resolved = desired.resolve(ws, self.catalog, self.settings, self._config_text(ws))
        plan, resource = await self._sync_nodes(ws, obj, resolved)
        if ws.tuning is not None:
            job = None
            if resource.is_true:
                outcome = await sync_tuning(
                    ws,
                    obj,
                    rev,
                    client=self.client,
                    cache=self.cache,
                    catalog=self.catalog,
                    settings=self.settings,
                    recorder=self.recorder,
                    contract=resolved.contract,
                )
                if outcome.problem is not None:
                    await self.recorder.event(
                        obj, "Warning", c.REASON_INVALID_SPEC, outcome.problem
                    )
                    await self._write_status(obj, status.invalid_spec(outcome.problem))
                    return Result()
                job = outcome.job
            else:
                job = self.cache.get(r.JOB, ws.name, ws.namespace)
            pods = self._pods(ws)
            conds, state = status.tuning_conditions(job, pods, resource)
            await self._write_status(
                obj, [resource, *conds], plan.worker_nodes, state, resolved.nodes
            )
            return (
                Result()
                if state in (c.STATE_SUCCEEDED, c.STATE_FAILED)
                else Result(requeue_after=WAIT_FOR_WORKLOAD)
            )

        workload: dict[str, Any] | None = None
        if resource.is_true:
            workload = await self._sync_inference(ws, obj, resolved, rev)
        else:
            workload = self._observed_workload(ws, resolved)
        inference = status.inference_condition(workload, self._pods(ws), resource)
        summary = status.summary_conditions(resource, inference)
        state = status.inference_state(summary[0], inference)
        await self._write_status(
            obj, [resource, inference, *summary], plan.worker_nodes, state, resolved.nodes
        )
        if not resource.is_true:
            return Result(requeue_after=WAIT_FOR_NODES)
        if not summary[0].is_true:
            return Result(requeue_after=WAIT_FOR_WORKLOAD)
        return Result()

    # -- finalizer and deletion ---------------------------------------------------------------
    async def _patch_metadata(self, ws: Workspace, annotations: dict[str, str]) -> None:
        """Add the finalizer and set revision annotations in one write (none if nothing to do).

        The finalizer goes in with the resourceVersion the Workspace was read at, so two
        writers never drop each other's finalizers (a 409 is retried from a fresh read).
        """
        metadata: dict[str, Any] = {}
        if c.WORKSPACE_FINALIZER not in ws.finalizers:
            metadata["finalizers"] = [*ws.finalizers, c.WORKSPACE_FINALIZER]
            metadata["resourceVersion"] = ws.resource_version
        if annotations:
            metadata["annotations"] = annotations
        if metadata:
            await self.client.patch(kinds.WORKSPACE, ws.name, {"metadata": metadata}, ws.namespace)

    async def _finalize(self, ws: Workspace, obj: dict[str, Any]) -> Result:
        if c.WORKSPACE_FINALIZER not in ws.finalizers:
            return Result()
        # A live list, not the cache: the finalizer must not go while a NodeClaim remains.
        selector = _selector(nodeclaims.workspace_selector(ws))
        claims = (await self.client.list(kinds.NODECLAIM, label_selector=selector)).items
        live = [x for x in claims if not (x.get("metadata") or {}).get("deletionTimestamp")]
        if live:  # one label-selected DELETE for all of them, however many there are
            await self.client.delete_collection(kinds.NODECLAIM, label_selector=selector)
            names = sorted(x["metadata"]["name"] for x in live)
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            await self.recorder.event(
                obj, "Normal", "NodeClaimDeleted", f"Deleting {len(names)} NodeClaim(s): {shown}"
            )
        if claims:
            deleting = Condition(
                c.CONDITION_WORKSPACE_DELETING,
                "True",
                c.REASON_WORKSPACE_DELETED,
                f"workspace is being deleted: waiting for {len(claims)} NodeClaim(s) to go",
            )
            await self._write_status(obj, [deleting])
            return Result(requeue_after=WAIT_FOR_DELETION)
        finalizers = [f for f in ws.finalizers if f != c.WORKSPACE_FINALIZER]
        try:
            await self.client.patch(
                kinds.WORKSPACE,
                ws.name,
                {"metadata": {"finalizers": finalizers, "resourceVersion": ws.resource_version}},
                ws.namespace,
            )
        except (NotFound, Conflict):
            return Result(requeue_after=WAIT_FOR_DELETION)
        return Result()

    # -- revisions ------------------------------------------------------------------------------
    async def _sync_revision(
        self, ws: Workspace, obj: dict[str, Any]
    ) -> tuple[str, dict[str, str]]:
        """The revision of the current spec, and the annotations to write (empty if current)."""
        digest = revision.spec_hash(ws)
        annotations = ws.annotations
        current = annotations.get(c.ANNOTATION_WORKSPACE_REVISION)
        if annotations.get(c.ANNOTATION_WORKSPACE_HASH) == digest and current:
            return current, {}
        revisions = self.cache.list(
            r.CONTROLLER_REVISION, ws.namespace, labels={c.LABEL_WORKSPACE_NAME: ws.name}
        )
        number = 0
        for existing in revisions:
            if (existing["metadata"].get("annotations") or {}).get(
                c.ANNOTATION_WORKSPACE_HASH
            ) == digest:
                number = int(existing.get("revision", 0))
        if not number:
            # Same spec under another hash (an older kaito's, say): same revision, so the
            # workloads are not re-made; else the next one.
            same = revision.unchanged_revision(ws, digest, revisions)
            number = (
                int(same["revision"])
                if same
                else 1 + max((int(x.get("revision", 0)) for x in revisions), default=0)
            )
            manifest = revision.controller_revision(ws, digest, number, owner_reference(ws))
            try:
                await self.client.create(r.CONTROLLER_REVISION, manifest, ws.namespace)
            except AlreadyExists:
                found = await self.client.get(
                    r.CONTROLLER_REVISION, manifest["metadata"]["name"], ws.namespace
                )
                found_hash = (found["metadata"].get("annotations") or {}).get(
                    c.ANNOTATION_WORKSPACE_HASH
                )
                if found_hash != digest:
                    raise RuntimeError(
                        "revision name conflicts, the hash values are different"
                    ) from None
                number = int(found.get("revision", number))
            await self._prune_revisions(ws, revisions, keep=revision.MAX_REVISIONS - 1)
        if current is not None and current != str(number):
            await self.recorder.event(
                obj, "Normal", "RevisionUpdated", f"Workspace spec changed: revision {number}"
            )
        return str(number), {
            c.ANNOTATION_WORKSPACE_HASH: digest,
            c.ANNOTATION_WORKSPACE_REVISION: str(number),
        }

    async def _prune_revisions(
        self, ws: Workspace, revisions: Sequence[dict[str, Any]], keep: int
    ) -> None:
        ordered = sorted(revisions, key=lambda x: int(x.get("revision", 0)))
        for old in ordered[: max(0, len(ordered) - keep)]:
            with contextlib.suppress(NotFound):
                await self.client.delete(
                    r.CONTROLLER_REVISION, old["metadata"]["name"], ws.namespace
                )

    # -- nodes ----------------------------------------------------------------------------------
    async def _sync_nodes(
        self, ws: Workspace, obj: dict[str, Any], resolved: desired.Resolved
    ) -> tuple[NodePlan, Condition]:
        nap = self.settings.node_auto_provisioning
        key = f"{ws.namespace}/{ws.name}"
        claims = self._indexed(kinds.NODECLAIM, BY_WORKSPACE, key) if nap else []
        own_nodes = [
            str(node) for claim in claims if (node := (claim.get("status") or {}).get("nodeName"))
        ]
        status_obj = obj.get("status") or {}
        pair = selector_index_value(ws.resource.label_selector)
        candidates = (
            self._indexed(r.NODE, NODES_BY_LABEL, pair) if pair else self.cache.list(r.NODE)
        )
        preset = resolved.preset or (
            self.catalog.tuning_preset(ws.preset_name) if ws.preset_name else None
        )
        needs_gpu = _needs_gpu(preset.gpu_count if preset else None, resolved.sku)
        plan = plan_nodes(
            selector=ws.resource.label_selector,
            instance_type=ws.resource.instance_type,
            required=resolved.nodes,
            nodes=candidates,
            own_claim_nodes=own_nodes,
            preferred=ws.resource.preferred_nodes or (),
            previous_workers=status_obj.get("workerNodes") or (),
            auto_provisioning=nap,
            needs_gpu=needs_gpu,
        )
        blocked = None
        if nap:
            creation = await claim_creation.create_missing(
                ws,
                obj,
                claims,
                plan.nodeclaims_wanted,
                preset,
                resolved.sku,
                client=self.client,
                cache=self.cache,
                settings=self.settings,
                recorder=self.recorder,
            )
            claims, blocked = creation.claims, creation.blocked
        await self._label_gpu_nodes(plan.worker_nodes)
        observation = status.NodeObservation(
            required=resolved.nodes,
            ready_nodes=plan.worker_nodes,
            nodeclaims=claims,
            auto_provisioning=nap,
            selector=selector_text(ws.resource.label_selector),
            gpu=needs_gpu,
        )
        resource = status.resource_condition(observation)
        return plan, (blocked if blocked is not None and not resource.is_true else resource)

    async def _label_gpu_nodes(self, names: Sequence[str]) -> None:
        for name in names:
            node = self.cache.get(r.NODE, name)
            labels = ((node or {}).get("metadata") or {}).get("labels") or {}
            if node is None or labels.get(c.LABEL_ACCELERATOR) == "nvidia":
                continue
            if not gpu_capacity(node):  # a CPU node (CPU preset): no accelerator label
                continue
            try:
                await self.client.patch(
                    r.NODE, name, {"metadata": {"labels": {c.LABEL_ACCELERATOR: "nvidia"}}}
                )
            except NotFound:
                continue

    # -- workload -------------------------------------------------------------------------------
    def _observed_workload(
        self, ws: Workspace, resolved: desired.Resolved
    ) -> dict[str, Any] | None:
        rt = r.STATEFUL_SET if resolved.statefulset else r.DEPLOYMENT
        return self.cache.get(rt, ws.name, ws.namespace)

    async def _sync_inference(
        self, ws: Workspace, obj: dict[str, Any], resolved: desired.Resolved, rev: str
    ) -> dict[str, Any] | None:
        workload: dict[str, Any] | None = None
        written: dict[str, list[str]] = {"Created": [], "Updated": []}
        for manifest in desired.inference_objects(ws, resolved, self.settings, rev):
            rt = KINDS_BY_NAME[manifest["kind"]]
            name = manifest["metadata"]["name"]
            observed = self.cache.get(rt, name, ws.namespace)
            current = observed
            if rt is r.STATEFUL_SET:
                adopt_flag_order(manifest, observed)
            if needs_apply(manifest, observed):
                current = await self.client.apply(rt, manifest, field_manager=FIELD_MANAGER)
                written["Created" if observed is None else "Updated"].append(
                    f"{manifest['kind']} {name}"
                )
            if rt in (r.DEPLOYMENT, r.STATEFUL_SET):
                workload = current
                other = r.DEPLOYMENT if rt is r.STATEFUL_SET else r.STATEFUL_SET
                await self._drop_other_workload(ws, other)
        for verb, objects in written.items():
            if objects:  # one Event per pass, not one per object: fewer API writes
                await self.recorder.event(
                    obj, "Normal", f"Workload{verb}", f"{verb} {', '.join(objects)}"
                )
        return workload

    async def _drop_other_workload(self, ws: Workspace, rt: r.ResourceType) -> None:
        """Delete the workload of the kind this Workspace no longer runs (its runtime contract
        changed: a Deployment became a StatefulSet or back), if this Workspace owns it."""
        other = self.cache.get(rt, ws.name, ws.namespace)
        owners = (other or {}).get("metadata", {}).get("ownerReferences") or []
        if not any(o.get("uid") == ws.uid and o.get("controller") for o in owners):
            return
        try:
            await self.client.delete(rt, ws.name, ws.namespace)
        except NotFound:
            return

    def _config_text(self, ws: Workspace) -> str | None:
        """``inference_config.yaml`` of the ConfigMap the Workspace names, if cached."""
        name = ws.inference.config if ws.inference is not None else None
        if not name:
            return None
        config = self.cache.get(r.CONFIG_MAP, name, ws.namespace)
        return str(((config or {}).get("data") or {}).get("inference_config.yaml") or "")

    def _pods(self, ws: Workspace) -> list[dict[str, Any]]:
        return self._indexed(r.POD, BY_WORKSPACE, f"{ws.namespace}/{ws.name}")

    # -- status ---------------------------------------------------------------------------------
    async def _write_status(
        self,
        obj: dict[str, Any],
        conds: Sequence[Condition],
        worker_nodes: Sequence[str] | None = None,
        state: str | None = None,
        target_nodes: int | None = None,
    ) -> None:
        """Write what changed in the Workspace's status (nothing when nothing did)."""
        current = obj.get("status") or {}
        fields: dict[str, Any] = {}
        if worker_nodes is not None:
            if list(worker_nodes) != (current.get("workerNodes") or []):
                fields["workerNodes"] = list(worker_nodes)
            fields["targetNodeCount"] = (
                target_nodes if target_nodes is not None else ws_target_nodes(obj)
            )
        if state is not None:
            fields["state"] = state
        try:
            await write_status(self.client, kinds.WORKSPACE, obj, conds, fields)
        except ApiError as exc:
            metadata = obj.get("metadata") or {}
            log.warning(
                "status of %s/%s not written: %s", metadata.get("namespace"), metadata["name"], exc
            )
            raise


def ws_target_nodes(obj: dict[str, Any]) -> int:
    """``resource.count``: ``status.targetNodeCount`` where no estimate says otherwise."""
    count = (obj.get("resource") or {}).get("count")
    return int(count) if count else 1


def _selector(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _needs_gpu(preset_gpus: int | None, sku: GPUConfig | None) -> bool:
    """Whether the Workspace's nodes must have ``nvidia.com/gpu``: a CPU preset never does,
    and neither does any Workspace (a custom template too) on a CPU instance type."""
    if sku is not None and sku.gpu_count == 0:
        return False
    return preset_gpus is None or preset_gpus > 0
