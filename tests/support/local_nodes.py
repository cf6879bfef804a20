"""A ``local`` cloud provider for tests: real nodes on this machine, cleaned up afterwards."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from kaito.presets import get_sku
from kaito.provisioner.cloud.local import LocalProvider
from kaito.provisioner.localnode.configs import NodeHost
from kaito.provisioner.localnode.layout import existing_nodes
from kaito.runtime.client import Client

REGISTRY = "10.245.0.1:5000"
"""The local registry the nodes pull from over plain HTTP."""


@asynccontextmanager
async def local_provider(
    client: Client, bin_dir: Path, pause_image: str, *, simulated_gpus: bool, prefix: str
) -> AsyncIterator[LocalProvider]:
    """A provider with its own state directory; every node it still has is deleted on exit."""
    host = NodeHost(
        bin_dir=bin_dir,
        server=client.server,
        ca_pem=client.ca_pem(),
        sandbox_image=pause_image,
        insecure_registries=(REGISTRY,),
    )
    local = LocalProvider(
        client,
        get_sku,
        host=host,
        # short: the kubelet's unix sockets live below it (at most 108 bytes)
        state_dir=Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp")),
        image_cache_dir=Path.home() / ".cache" / "kaito" / "node-images-tests",
        simulated_gpus=simulated_gpus,
    )
    try:
        yield local
    finally:
        for name in list(existing_nodes(local.state_dir)):
            await local.delete(name)
        shutil.rmtree(local.state_dir, ignore_errors=True)
