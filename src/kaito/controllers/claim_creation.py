"""Creating a Workspace's missing NodeClaims with bounded cost per pass.

Each NodeClaim is a node someone pays for (a GPU VM on a cloud), so creation is the one
write kaito must never let run away. One reconcile pass creates at most :data:`BATCH`
claims and then returns (the NodeClaim watch brings the Workspace back for the next
batch, as controller-runtime's expectations would), it re-reads the Workspace from the
cache before every create and stops the moment it is being deleted, and it never takes
the cluster past the manager's ``--max-nodeclaims`` total: instead it says so in
``ResourceReady`` and waits. Deterministic names keep a restart from doubling anything, and
a claim this process created that the cache does not show yet is not created again
(:mod:`kaito.runtime.expectations`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Final

import attrs

from kaito import kinds
from kaito.api import constants as c
from kaito.api.catalog import GPUConfig, InferencePreset, TuningPreset
from kaito.api.workspace import Workspace
from kaito.controllers import nodeclaims
from kaito.controllers.settings import Settings
from kaito.runtime.cache import InformerCache
from kaito.runtime.client import Client
from kaito.runtime.conditions import Condition
from kaito.runtime.errors import AlreadyExists
from kaito.runtime.expectations import Expectations

log = logging.getLogger(__name__)

BATCH: Final = 10
"""NodeClaims created per reconcile pass at most."""

REASON_LIMIT: Final = "NodeClaimLimitReached"


@attrs.frozen
class Creation:
    """What one pass did: the claims now known, and why it stopped early (if it did)."""

    claims: list[dict[str, Any]]
    blocked: Condition | None = None
    deleting: bool = False


def _deleting(cache: InformerCache, ws: Workspace) -> bool:
    current = cache.get(kinds.WORKSPACE, ws.name, ws.namespace)
    return current is None or bool((current.get("metadata") or {}).get("deletionTimestamp"))


def _owned_claim_total(cache: InformerCache) -> int:
    return sum(
        1
        for claim in cache.list(kinds.NODECLAIM)
        if c.LABEL_WORKSPACE in ((claim.get("metadata") or {}).get("labels") or {})
    )


def limit_condition(limit: int, mine: int, wanted: int) -> Condition:
    return Condition(
        c.CONDITION_RESOURCE_READY,
        "False",
        REASON_LIMIT,
        f"the cluster-wide limit of {limit} kaito NodeClaims is reached (manager flag "
        f"--max-nodeclaims): {mine} of this Workspace's {wanted} NodeClaim(s) exist; "
        "waiting for other Workspaces to release nodes",
    )


async def create_missing(
    ws: Workspace,
    claims: Sequence[dict[str, Any]],
    wanted: int,
    preset: InferencePreset | TuningPreset | None,
    sku: GPUConfig | None,
    *,
    client: Client,
    cache: InformerCache,
    settings: Settings,
    expected: Expectations,
) -> Creation:
    """Create up to :data:`BATCH` of the ``wanted`` NodeClaims that do not exist yet (nor
    were created by this process without the cache showing them yet: ``expected``)."""
    known = list(claims)
    existing = {claim["metadata"]["name"] for claim in known}
    for name in existing:
        expected.observed(name)
    ours = [nodeclaims.nodeclaim_name(ws, i) for i in range(wanted)]
    missing = [
        i for i, name in enumerate(ours) if name not in existing and not expected.pending(name)
    ]
    # A claim under another name is a node this Workspace has too: upstream Kaito names its
    # claims at random, so without this taking over its Workspace would double every node.
    foreign = sum(
        1
        for claim in known
        if claim["metadata"]["name"] not in ours
        and not (claim.get("metadata") or {}).get("deletionTimestamp")
    )
    missing = missing[foreign:]
    if not missing:
        return Creation(known)
    total = _owned_claim_total(cache)  # every kaito claim of the cluster: only when creating
    for index in missing[:BATCH]:
        if _deleting(cache, ws):
            return Creation(known, deleting=True)
        if total >= settings.max_nodeclaims:
            return Creation(known, limit_condition(settings.max_nodeclaims, len(known), wanted))
        manifest = nodeclaims.nodeclaim(ws, index, preset, settings, sku=sku)
        name = manifest["metadata"]["name"]
        try:
            known.append(await client.create(kinds.NODECLAIM, manifest))
        except AlreadyExists:
            continue
        expected.created(name)
        total += 1
        # No Event (upstream writes NodeClaimCreated): ResourceReady names the claims while
        # they provision, and an Event per node is one API write more per Workspace.
        log.info(
            "created NodeClaim %s for %s/%s (%s)",
            name,
            ws.namespace,
            ws.name,
            ws.resource.instance_type,
        )
    return Creation(known)
