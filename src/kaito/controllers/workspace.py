"""The Workspace reconciler: from ``kubectl apply`` to WorkspaceReady, and back to nothing.

Level-triggered and idempotent, like every controller-runtime reconciler: each call
reads the world from the informer cache, computes what should exist, writes only the
difference and recomputes status from what it saw. It never sleeps: while nodes or pods
are on their way it returns a requeue, and watches on NodeClaims, Nodes, the workload
and its pods bring it back as soon as something moves. NodeClaim and ControllerRevision
names are derived from the Workspace, so a crash between "create" and "see it in the
cache" can only ever meet AlreadyExists, never make a second node.

A pass reads as its phases, each a module over one :class:`~.context.Context`: validate ->
revision (:mod:`.revision_sync`) -> nodes (:mod:`.node_sync`) -> inference
(:mod:`.inference_sync`) or tuning (:mod:`.tuning_sync`) -> status; a deleted Workspace goes
to :mod:`.finalize` instead. This module holds the order and the error policy.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs

from kaito import kinds
from kaito.api import constants as c
from kaito.api.catalog import Catalog
from kaito.api.validation import validate_create
from kaito.api.wire import WireError, workspace_from_dict
from kaito.api.workspace import Workspace
from kaito.controllers import (
    desired,
    finalize,
    immutability,
    inference_sync,
    node_sync,
    revision_sync,
    status,
    tuning_sync,
)
from kaito.controllers.context import CONFIG_MAPS_NAMED, Context, write_object_status
from kaito.controllers.settings import Settings
from kaito.runtime import resources as r
from kaito.runtime.cache import InformerCache
from kaito.runtime.client import Client
from kaito.runtime.errors import ApiError, Forbidden, Invalid
from kaito.runtime.events import EventRecorder
from kaito.runtime.reconcile import Request, Result
from kaito.runtime.resources import Object
from kaito.runtime.status_hold import StatusHold

log = logging.getLogger(__name__)


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
        hold = StatusHold(settings.status_hold, backlog=client.transport.backlog)
        self.ctx = Context(client, cache, settings, catalog, recorder, hold=hold)
        self.ctx.install_indexes()

    def users_of_config_map(self, config_map: Object) -> list[Request]:
        """The Workspaces naming ``config_map`` (a watch mapper: one created after its
        Workspace, or changed, is seen at once instead of at the next resync)."""
        metadata = config_map.get("metadata") or {}
        key = f"{metadata.get('namespace')}/{metadata.get('name')}"
        store = self.ctx.cache.informer(kinds.WORKSPACE).store
        return [
            Request(str(ws["metadata"].get("namespace", "")), str(ws["metadata"]["name"]))
            for ws in store.by_index(CONFIG_MAPS_NAMED, key)
        ]

    # -- entry point ---------------------------------------------------------------------
    async def reconcile(self, request: Request) -> Result:
        obj = self.ctx.cache.get(kinds.WORKSPACE, request.name, request.namespace)
        if obj is None:
            self.ctx.hold.forget((kinds.WORKSPACE.plural, request.namespace, request.name))
            self.ctx.applied.pop(f"{request.namespace}/{request.name}", None)
            return Result()
        try:
            ws = workspace_from_dict(obj)
        except WireError as exc:
            message = f"cannot read the Workspace: {exc}"
            await write_object_status(self.ctx.client, obj, status.invalid_spec(message))
            return Result()
        if ws.deleting:
            return await finalize.finalize(self.ctx, ws)
        try:
            return await self._reconcile_spec(ws)
        except Invalid as exc:
            # The API server refused an object made from this spec (a 422): retrying the
            # same write can only fail again, so say why and wait for the spec to change.
            message = f"the API server refused an object made from this Workspace: {exc}"
            await self.ctx.event(ws, "Warning", c.REASON_INVALID_SPEC, message)
            try:
                await self.ctx.write_status(ws, status.invalid_spec(message))
            except Invalid:
                log.warning("status of %s/%s refused: %s", ws.namespace, ws.name, message)
            return Result()
        except Forbidden as exc:
            # A 403 (RBAC, or another admission webhook) on a write: it can succeed once the
            # roles change, which no watch reports, so it is retried with backoff (the raise,
            # logged as a reconcile error); the Workspace says what was refused meanwhile.
            message = f"the API server refused a write kaito needs (403): {exc}"[:1024]
            await self.ctx.event(ws, "Warning", c.REASON_PERMISSION_DENIED, message)
            try:
                await self.ctx.write_status(
                    ws, status.summary("False", c.REASON_PERMISSION_DENIED, message)
                )
            except ApiError as status_error:
                log.warning("status of %s/%s not written: %s", ws.namespace, ws.name, status_error)
            raise

    async def _reconcile_spec(self, ws: Workspace) -> Result:
        ctx = self.ctx
        problem = self._invalid(ws)
        if problem is not None:
            await self._patch_metadata(ws, {})
            return await self._refuse(ws, problem)
        problem = self._refused_update(ws)
        if problem is not None:
            return await self._refuse(ws, problem)
        rev, annotations = await revision_sync.sync(ctx, ws)
        await self._patch_metadata(ws, annotations)
        ctx = attrs.evolve(
            ctx, resolved=desired.resolve(ws, ctx.catalog, ctx.settings, self._config_text(ws))
        )
        plan, resource = await node_sync.sync(ctx, ws)
        ctx = attrs.evolve(ctx, resource=resource)
        phase = tuning_sync if ws.tuning is not None else inference_sync
        outcome = await phase.sync(ctx, ws, rev)
        if outcome.problem is not None:
            return await self._refuse(ws, outcome.problem)
        assert ctx.resolved is not None
        held = await ctx.write_status(
            ws,
            [resource, *outcome.conditions],
            plan.worker_nodes,
            outcome.state,
            ctx.resolved.nodes,
            settled=outcome.requeue_after is None
            or not status.only_progress([resource, *outcome.conditions]),
        )
        if outcome.requeue_after is None:
            return Result()
        return Result(requeue_after=min(outcome.requeue_after, held or outcome.requeue_after))

    # -- validation -----------------------------------------------------------------------------
    def _invalid(self, ws: Workspace) -> str | None:
        """What admission would refuse in this spec (the webhook may be off or bypassed)."""
        settings = self.ctx.settings
        verdict = validate_create(
            ws,
            node_auto_provisioning=settings.node_auto_provisioning,
            cloud=settings.cloud,
            catalog=self.ctx.catalog,
            trusted_data_networks=settings.data_networks,
            max_node_count=settings.max_nodes_per_workspace,
            runtime_contract=settings.runtime_contract,
        )
        return "; ".join(verdict.errors) if verdict.errors else None

    def _refused_update(self, ws: Workspace) -> str | None:
        """An update the immutable fields forbid, judged against the last revision."""
        return immutability.refused_update(
            ws,
            ws.api_version,
            revision_sync.revisions_of(self.ctx, ws),
            node_auto_provisioning=self.ctx.settings.node_auto_provisioning,
            max_node_count=self.ctx.settings.max_nodes_per_workspace,
        )

    async def _refuse(self, ws: Workspace, problem: str) -> Result:
        """Say why the spec cannot run (Event and InvalidSpec) and wait for it to change."""
        await self.ctx.event(ws, "Warning", c.REASON_INVALID_SPEC, problem)
        await self.ctx.write_status(ws, status.invalid_spec(problem))
        return Result()

    # -- metadata -------------------------------------------------------------------------------
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
            await self.ctx.client.patch(
                kinds.WORKSPACE, ws.name, {"metadata": metadata}, ws.namespace
            )

    def _config_text(self, ws: Workspace) -> str | None:
        """``inference_config.yaml`` of the ConfigMap the Workspace names, if cached."""
        name = ws.inference.config if ws.inference is not None else None
        if not name:
            return None
        config = self.ctx.cache.get(r.CONFIG_MAP, name, ws.namespace)
        return str(((config or {}).get("data") or {}).get("inference_config.yaml") or "")
