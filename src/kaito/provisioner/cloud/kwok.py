"""The local cloud: each instance is a Node that kwok keeps Ready.

What ``make run`` and the end-to-end tests provision with. A "create" waits a
configurable boot delay (imitating a VM coming up) and then registers a Node
annotated ``kwok.x-k8s.io/node: fake`` with the instance type's GPU labels and
capacity from the SKU catalog; kwok then heartbeats it and runs pods bound to it.
Instances are found again by the ``kaito.sh/kwok-instance`` label, so a restarted
provisioner adopts what exists instead of creating twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

from kaito.api.catalog import GPUConfig
from kaito.provisioner.cloud.base import Instance, InstanceRequest, InstanceState
from kaito.provisioner.cloud.errors import InstanceNotFound, InvalidRequest, TransientError
from kaito.runtime import resources as r
from kaito.runtime.client import Client
from kaito.runtime.errors import AlreadyExists, ApiError, NotFound

INSTANCE_LABEL = "kaito.sh/kwok-instance"
PROVIDER_PREFIX = "kwok://"
# Host resources of the simulated VM; GPU numbers come from the SKU catalog.
CPU_PER_GPU = 6
MEMORY_GIB_PER_GPU = 112

SkuLookup = Callable[[str], GPUConfig | None]


def _gib(value: int) -> str:
    return f"{max(1, value // 2**30)}Gi"


def node_manifest(request: InstanceRequest, sku: GPUConfig) -> dict[str, Any]:
    gpus = max(1, sku.gpu_count)
    capacity = {
        "cpu": str(CPU_PER_GPU * gpus),
        "memory": f"{MEMORY_GIB_PER_GPU * gpus}Gi",
        "pods": "110",
        "ephemeral-storage": f"{request.os_disk_size_gb or 128}Gi",
        "nvidia.com/gpu": str(gpus),
    }
    created = request.created_at or dt.datetime.now(dt.UTC)
    labels = {
        **request.labels,
        INSTANCE_LABEL: "true",
        "type": "kwok",
        "kubernetes.io/hostname": request.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": sku.sku,
        "kaito.sh/machine-type": "gpu",
        "kaito.sh/creation-timestamp": created.strftime("%Y-%m-%dT%H-%M-%SZ"),
        "nvidia.com/gpu.product": sku.gpu_model.replace(" ", "-"),
        "nvidia.com/gpu.count": str(gpus),
        "nvidia.com/gpu.memory": str(sku.per_gpu_memory // 2**20),
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": request.name,
            "labels": labels,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {
            "providerID": f"{PROVIDER_PREFIX}{request.name}",
            "taints": [
                {"key": t.key, "value": t.value, "effect": t.effect}
                if t.value
                else {"key": t.key, "effect": t.effect}
                for t in request.taints
            ],
        },
        "status": {"capacity": capacity, "allocatable": dict(capacity)},
    }


def _instance(node: dict[str, Any]) -> Instance:
    metadata = node.get("metadata") or {}
    labels = dict(metadata.get("labels") or {})
    created = metadata.get("creationTimestamp")
    return Instance(
        name=str(metadata.get("name", "")),
        provider_id=str((node.get("spec") or {}).get("providerID", "")),
        state=InstanceState.DELETING
        if metadata.get("deletionTimestamp")
        else InstanceState.RUNNING,
        instance_type=labels.get("node.kubernetes.io/instance-type", ""),
        labels=labels,
        node_name=str(metadata.get("name", "")),
        created_at=dt.datetime.fromisoformat(created.replace("Z", "+00:00")) if created else None,
        image_id="kwok",
    )


class KwokProvider:
    """:class:`~kaito.provisioner.cloud.base.CloudProvider` backed by kwok Nodes."""

    def __init__(self, client: Client, skus: SkuLookup, *, boot_delay: float = 2.0) -> None:
        self._client = client
        self._skus = skus
        self.boot_delay = boot_delay

    async def create(self, request: InstanceRequest) -> Instance:
        existing = await self.get(request.name)
        if existing is not None:
            return existing
        sku = self._skus(request.instance_type)
        if sku is None or sku.gpu_count < 1:
            raise InvalidRequest(
                f"instance type {request.instance_type!r} is not a known GPU instance type",
                code="SkuNotAvailable",
            )
        await asyncio.sleep(self.boot_delay)
        try:
            node = await self._client.create(r.NODE, node_manifest(request, sku))
        except AlreadyExists:
            found = await self.get(request.name)
            if found is None:
                raise TransientError(f"node {request.name} exists but cannot be read") from None
            return found
        except ApiError as exc:
            raise TransientError(f"creating node {request.name}: {exc}") from exc
        return _instance(node)

    async def get(self, name: str) -> Instance | None:
        try:
            node = await self._client.get(r.NODE, name)
        except NotFound:
            return None
        except ApiError as exc:
            raise TransientError(f"reading node {name}: {exc}") from exc
        if (node.get("metadata", {}).get("labels") or {}).get(INSTANCE_LABEL) != "true":
            return None
        return _instance(node)

    async def list(self) -> list[Instance]:
        try:
            nodes = await self._client.list(r.NODE, label_selector=f"{INSTANCE_LABEL}=true")
        except ApiError as exc:
            raise TransientError(f"listing nodes: {exc}") from exc
        return [_instance(node) for node in nodes.items]

    async def delete(self, name: str) -> None:
        if await self.get(name) is None:
            raise InstanceNotFound(f"no kwok instance {name}")
        try:
            await self._client.delete(r.NODE, name)
        except NotFound:
            raise InstanceNotFound(f"no kwok instance {name}") from None
        except ApiError as exc:
            raise TransientError(f"deleting node {name}: {exc}") from exc
