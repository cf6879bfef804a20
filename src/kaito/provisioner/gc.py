"""Garbage collection between the cloud and the cluster, as gpu-provisioner does it.

Every two minutes: instances tagged as kaito's with no NodeClaim of the same name (and
older than 30 s, so a create racing with its NodeClaim is left alone) are deleted with
their Node; NodeClaims of the ``kaito`` nodepool whose instance vanished (confirmed with a
fresh ``get``, so a create that finished during the pass is not mistaken for a loss) are
deleted so the workspace controller creates them again (same deterministic name, fresh
instance). A NodeClaim that still has its instance is never touched, and neither is a
NodeClaim of another nodepool. One failing delete does not stop the rest of the pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from kaito import kinds
from kaito.provisioner.cloud.base import CloudError, CloudProvider, InstanceNotFound
from kaito.provisioner.metrics import garbage_collected, timed_call
from kaito.provisioner.nodeclaim import is_kaito_claim
from kaito.runtime import resources as r
from kaito.runtime.client import Client
from kaito.runtime.errors import NotFound

log = logging.getLogger(__name__)

INTERVAL = 120.0
GRACE = dt.timedelta(seconds=30)


class GarbageCollector:
    def __init__(
        self,
        client: Client,
        provider: CloudProvider,
        *,
        interval: float = INTERVAL,
        grace: dt.timedelta = GRACE,
    ) -> None:
        self.client = client
        self.provider = provider
        self.interval = interval
        self.grace = grace

    async def run(self) -> None:
        """Collect forever, every ``interval`` seconds; failures are logged, never fatal."""
        while True:
            try:
                await self.collect_once()
            except Exception as exc:  # a bad pass must never stop the provisioner
                log.warning("garbage collection failed, retrying later: %s", exc)
            await asyncio.sleep(self.interval)

    async def collect_once(self) -> tuple[list[str], list[str]]:
        """One pass; returns (leaked instances deleted, vanished NodeClaims deleted)."""
        async with timed_call("list"):
            instances = await self.provider.list()
        claims = (await self.client.list(kinds.NODECLAIM)).items
        claim_names = {claim["metadata"]["name"] for claim in claims}
        now = dt.datetime.now(dt.UTC)
        leaked: list[str] = []
        for instance in instances:
            if instance.name in claim_names:
                continue
            created = instance.created_at
            if created is not None and now - created < self.grace:
                continue
            log.info("deleting leaked instance %s (no NodeClaim)", instance.name)
            try:
                async with timed_call("delete"):
                    await self.provider.delete(instance.name)
            except InstanceNotFound:
                pass
            except CloudError as exc:
                log.warning("deleting leaked instance %s failed: %s", instance.name, exc)
                continue
            if instance.node_name:
                with contextlib.suppress(NotFound):
                    await self.client.delete(r.NODE, instance.node_name)
            garbage_collected.inc()
            leaked.append(instance.name)
        instance_names = {instance.name for instance in instances}
        vanished: list[str] = []
        for claim in claims:
            metadata = claim["metadata"]
            launched = (claim.get("status") or {}).get("providerID")
            if not is_kaito_claim(claim) or not launched or metadata.get("deletionTimestamp"):
                continue
            if metadata["name"] in instance_names:
                continue
            try:
                async with timed_call("get"):
                    if await self.provider.get(metadata["name"]) is not None:
                        continue  # created while this pass was listing
            except CloudError as exc:
                log.warning("checking instance of NodeClaim %s failed: %s", metadata["name"], exc)
                continue
            log.info("NodeClaim %s lost its instance; deleting it to be replaced", metadata["name"])
            try:
                await self.client.delete(kinds.NODECLAIM, metadata["name"])
            except NotFound:
                continue
            vanished.append(metadata["name"])
        return leaked, vanished
