"""The local cloud: real nodes on this machine for the instance types it can honour.

A NodeClaim for a CPU instance type (``Standard_D4s_v5`` ...) becomes a real node here:
containerd + kubelet + kube-proxy (:mod:`kaito.provisioner.localnode`), registered under the
claim's name with its labels and taints and its own ``system:node:<name>`` certificate.
GPU instance types keep becoming kwok nodes (there are no GPUs here) unless
``simulated_gpus`` is set, in which case a real node advertises the SKU's ``nvidia.com/gpu``
count so GPU pod specs run on a real kubelet.

How many real nodes one machine hosts is this provider's capacity (one by default: the
device-plugin directory and kube-proxy's rules are host-wide). Past it, and on a machine
that cannot host a node at all, a create fails for good with the reason, like a cloud
quota: the NodeClaim's ``Launched`` condition says it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kaito.api import constants as c
from kaito.api.catalog import GPUConfig
from kaito.provisioner.cloud.base import Instance, InstanceRequest, InstanceState
from kaito.provisioner.cloud.errors import (
    InstanceNotFound,
    InvalidRequest,
    QuotaExceeded,
    TransientError,
)
from kaito.provisioner.cloud.kwok import KwokProvider
from kaito.provisioner.localnode import hostnet, preflight, slots
from kaito.provisioner.localnode.configs import NodeHost
from kaito.provisioner.localnode.hostnet import HostError
from kaito.provisioner.localnode.identity import CertificateNotIssued
from kaito.provisioner.localnode.layout import MAX_SOCKET_PATH, NodeLayout, existing_nodes
from kaito.provisioner.localnode.node import LocalNode, NodeBootError, new_record
from kaito.runtime.client import Client

log = logging.getLogger("kaito.provisioner.local")

INSTANCE_LABEL = "kaito.sh/local-instance"
"""Label on every real local node: its value ``true`` says the Node is named after its claim."""
PROVIDER_PREFIX = "local://"

SkuLookup = Callable[[str], GPUConfig | None]


class CapacityExceeded(QuotaExceeded):
    """The machine runs as many real nodes as it may. Unlike a cloud quota this frees up by
    itself when one of them is deleted, so the claim is retried (with backoff) while its
    ``Launched=False LocalCapacityExceeded`` condition says why it waits."""

    retryable = True


class LocalProvider:
    """:class:`~kaito.provisioner.cloud.base.CloudProvider` of real nodes on this machine."""

    def __init__(
        self,
        client: Client,
        skus: SkuLookup,
        *,
        host: NodeHost,
        state_dir: Path,
        image_cache_dir: Path,
        capacity: int = 1,
        simulated_gpus: bool = False,
        kwok: KwokProvider | None = None,
        boot_timeout: float = 180.0,
        slots_dir: Path = slots.SLOTS,
    ) -> None:
        self._client = client
        self._skus = skus
        self.host = host
        self.state_dir = state_dir
        self.image_cache_dir = image_cache_dir
        self.capacity = capacity
        self.simulated_gpus = simulated_gpus
        self._kwok = kwok
        self.boot_timeout = boot_timeout
        self.slots_dir = slots_dir
        self._admit = asyncio.Lock()
        self._per_node: dict[str, asyncio.Lock] = {}

    # -- helpers ------------------------------------------------------------------------
    def unsupported(self) -> str | None:
        """Why this machine cannot host a real node, or None when it can."""
        lacks = preflight.missing(self.host.bin_dir, self.host.cni_bin_dir)
        return preflight.refusal(lacks) if lacks else None

    def _node(self, layout: NodeLayout) -> LocalNode:
        return LocalNode(
            layout, self.host, self.image_cache_dir / f"node{layout.index}", self.slots_dir
        )

    def _lock(self, name: str) -> asyncio.Lock:
        return self._per_node.setdefault(name, asyncio.Lock())

    def _is_real(self, sku: GPUConfig) -> bool:
        return sku.gpu_count == 0 or self.simulated_gpus

    def _instance(self, layout: NodeLayout, record: dict[str, Any]) -> Instance:
        phase = record.get("phase", "booting")
        state = {
            "running": InstanceState.RUNNING,
            "deleting": InstanceState.DELETING,
        }.get(phase, InstanceState.CREATING)
        created = record.get("createdAt")
        return Instance(
            name=layout.name,
            provider_id=f"{PROVIDER_PREFIX}{layout.name}",
            state=state,
            instance_type=str(record.get("instanceType", "")),
            labels=dict(record.get("labels") or {}),
            node_name=layout.name if state is InstanceState.RUNNING else None,
            created_at=dt.datetime.fromisoformat(created) if created else None,
            image_id="local",
        )

    def _labels(self, request: InstanceRequest, sku: GPUConfig) -> dict[str, str]:
        created = request.created_at or dt.datetime.now(dt.UTC)
        labels = {
            **request.labels,
            INSTANCE_LABEL: "true",
            c.LABEL_INSTANCE_TYPE: sku.sku,
            c.LABEL_MACHINE_TYPE: "gpu" if sku.gpu_count else "cpu",
            c.LABEL_CREATION_TIMESTAMP: created.strftime("%Y-%m-%dT%H-%M-%SZ"),
        }
        if sku.gpu_count:
            labels.update(
                {
                    "nvidia.com/gpu.product": sku.gpu_model.replace(" ", "-"),
                    "nvidia.com/gpu.count": str(sku.gpu_count),
                    "nvidia.com/gpu.memory": str(sku.per_gpu_memory // 2**20),
                }
            )
        return labels

    # -- CloudProvider ------------------------------------------------------------------
    async def create(self, request: InstanceRequest) -> Instance:
        sku = self._skus(request.instance_type)
        if sku is None:
            raise InvalidRequest(
                f"instance type {request.instance_type!r} is not a known instance type",
                code="SkuNotAvailable",
            )
        if not self._is_real(sku):
            if self._kwok is None:
                raise InvalidRequest(
                    f"instance type {request.instance_type!r} has GPUs, which this machine "
                    "lacks; run the provisioner with --simulated-gpus to simulate them",
                    code="SkuNotAvailable",
                )
            return await self._kwok.create(request)
        async with self._lock(request.name):
            layout = await self._admit_node(request, sku)
            node = self._node(layout)
            try:
                await node.boot(self._client, timeout=self.boot_timeout)
            except (NodeBootError, CertificateNotIssued, HostError, OSError) as exc:
                raise TransientError(f"booting local node {request.name}: {exc}") from exc
            record = node.record() or {}
            return self._instance(layout, record)

    async def _admit_node(self, request: InstanceRequest, sku: GPUConfig) -> NodeLayout:
        """The node's layout, recording a new node when capacity and the machine allow.

        Capacity is host-wide (:mod:`~kaito.provisioner.localnode.slots`): nodes other
        provisioners run on this machine count too."""
        async with self._admit:
            nodes = existing_nodes(self.state_dir)
            if request.name in nodes:
                return await self._reclaim(nodes[request.name])
            node_dir = self.state_dir / request.name
            index = await asyncio.to_thread(
                slots.claim, request.name, node_dir, self.capacity, self.slots_dir
            )
            if index is None:
                running = sorted(str(s.get("name")) for s in slots.held(self.slots_dir).values())
                raise CapacityExceeded(
                    f"this machine hosts at most {self.capacity} real node(s) and runs "
                    f"{', '.join(running)}; delete one, or raise --local-capacity",
                    code="LocalCapacityExceeded",
                )
            layout = NodeLayout(self.state_dir, request.name, index)
            try:
                if reason := await asyncio.to_thread(self.unsupported):
                    raise InvalidRequest(reason, code="LocalNodeUnsupported")
                if len(str(layout.longest_socket)) > MAX_SOCKET_PATH:
                    raise InvalidRequest(
                        f"the node directory {layout.dir} is too deep for the kubelet's unix "
                        f"sockets (at most {MAX_SOCKET_PATH} bytes): use a shorter "
                        "--local-state-dir",
                        code="LocalNodeUnsupported",
                    )
                self._node(layout).write_record(
                    new_record(
                        index=index,
                        instance_type=sku.sku,
                        labels=self._labels(request, sku),
                        taints=[str(t) for t in request.taints],
                        created_at=request.created_at,
                        simulated_gpus=sku.gpu_count if sku.gpu_count else 0,
                    )
                )
            except BaseException:
                slots.release(index, node_dir, self.slots_dir)
                raise
            log.info("local node %s recorded (index %d, %s)", request.name, index, sku.sku)
            return layout

    async def _reclaim(self, layout: NodeLayout) -> NodeLayout:
        """A recorded node keeps (or takes back) its host-wide slot before it is adopted."""
        if not await asyncio.to_thread(
            slots.reclaim, layout.index, layout.name, layout.dir, self.slots_dir
        ):
            holder = slots.held(self.slots_dir).get(layout.index, {})
            raise QuotaExceeded(
                f"the slot of local node {layout.name} is held by {holder.get('name')} "
                f"({holder.get('dir')}) now; delete that node first",
                code="LocalCapacityExceeded",
            )
        return layout

    async def supervise(self, interval: float = 2.0) -> None:
        """Keep running nodes running: restart any daemon of theirs that died (a kubelet
        killed with -9 comes back, as systemd restarts it on a VM). Runs with the leader."""
        while True:
            nodes = existing_nodes(self.state_dir)
            if nodes:
                try:  # kube-proxy inserts its own jumps first; ours must stay ahead
                    await asyncio.to_thread(hostnet.ensure_isolation_first)
                except HostError as exc:
                    log.warning("cannot check the isolation rules: %s", exc)
            for name, layout in nodes.items():
                node = self._node(layout)
                if (node.record() or {}).get("phase") != "running" or self._lock(name).locked():
                    continue
                async with self._lock(name):
                    try:
                        if revived := await node.revive():
                            log.warning("local node %s: restarted %s", name, ", ".join(revived))
                    except (NodeBootError, HostError, OSError) as exc:
                        log.warning("local node %s: cannot restart its daemons: %s", name, exc)
            await asyncio.sleep(interval)

    async def get(self, name: str) -> Instance | None:
        layout = existing_nodes(self.state_dir).get(name)
        if layout is not None:
            return self._instance(layout, self._node(layout).record() or {})
        return await self._kwok.get(name) if self._kwok is not None else None

    async def list(self) -> list[Instance]:
        found = [
            self._instance(layout, self._node(layout).record() or {})
            for layout in existing_nodes(self.state_dir).values()
        ]
        if self._kwok is not None:
            found.extend(await self._kwok.list())
        return found

    async def delete(self, name: str) -> None:
        nodes = existing_nodes(self.state_dir)
        layout = nodes.get(name)
        if layout is None:
            if self._kwok is None:
                raise InstanceNotFound(f"no local instance {name}")
            await self._kwok.delete(name)
            return
        async with self._lock(name):
            try:
                await self._node(layout).teardown(self._client, last_node=len(nodes) == 1)
            except (HostError, OSError) as exc:
                raise TransientError(f"deleting local node {name}: {exc}") from exc
        self._per_node.pop(name, None)


async def teardown_all(state_dir: Path, host: NodeHost, image_cache_dir: Path) -> list[str]:
    """Stop and remove every local node without the API (``make down``); their names."""
    nodes = existing_nodes(state_dir)
    for remaining, (name, layout) in enumerate(sorted(nodes.items()), start=1):
        node = LocalNode(layout, host, image_cache_dir / f"node{layout.index}")
        await node.teardown(None, last_node=remaining == len(nodes))
        log.info("local node %s removed", name)
    return sorted(nodes)
