"""Fixtures for runtime integration tests: a client on the real control plane, a test CRD
with a status subresource, and a TCP proxy that can freeze or cut connections."""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kaito.runtime.client import Client, ClientConfig
from kaito.runtime.resources import CUSTOM_RESOURCE_DEFINITION, ResourceType
from kaito.testenv import ControlPlane

GIZMO = ResourceType("runtime-test.kaito.sh", "v1", "Gizmo", "gizmos")

GIZMO_CRD: dict[str, Any] = {
    "metadata": {"name": "gizmos.runtime-test.kaito.sh"},
    "spec": {
        "group": "runtime-test.kaito.sh",
        "scope": "Namespaced",
        "names": {"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                            "status": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                        },
                    }
                },
            }
        ],
    },
}


@pytest.fixture
async def client(control_plane: ControlPlane) -> AsyncIterator[Client]:
    async with await Client.from_kubeconfig(
        control_plane.kubeconfig, config=ClientConfig(qps=0)
    ) as c:
        yield c


@pytest.fixture(scope="session")
def gizmo_crd(control_plane: ControlPlane) -> ResourceType:
    """A namespaced CRD with a status subresource, established once per session."""
    manifest = {"apiVersion": "apiextensions.k8s.io/v1", "kind": CUSTOM_RESOURCE_DEFINITION.kind}
    control_plane.kubectl("apply", "-f", "-", input=yaml.safe_dump({**manifest, **GIZMO_CRD}))
    control_plane.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/" + GIZMO_CRD["metadata"]["name"],
    )
    return GIZMO


class Proxy:
    """A loopback TCP proxy to the apiserver that can hold traffic and sever connections,
    to simulate a network partition between a client and the apiserver."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.port = 0
        self._open = asyncio.Event()
        self._open.set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def freeze(self) -> None:
        """Stop moving bytes (and closes) in both directions; connections stay open."""
        self._open.clear()

    def thaw(self) -> None:
        """Let the held bytes through again; frozen connections carry on."""
        self._open.set()

    def sever(self) -> None:
        """Cut every connection and let new ones through."""
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        self._open.set()

    async def close(self) -> None:
        self.sever()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(
            self._pump(reader, up_writer), self._pump(up_reader, writer), return_exceptions=True
        )

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await reader.read(65536)
                await self._open.wait()
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        finally:
            await self._open.wait()
            writer.transport.abort()
            self._writers.discard(writer)


@pytest.fixture
async def proxied_kubeconfig(
    control_plane: ControlPlane, tmp_path: Path
) -> AsyncIterator[tuple[Path, Proxy]]:
    """A kubeconfig whose server is a :class:`Proxy` in front of the apiserver."""
    upstream = urllib.parse.urlsplit(control_plane.server)
    assert upstream.hostname is not None and upstream.port is not None
    proxy = Proxy(upstream.hostname, upstream.port)
    await proxy.start()
    config = yaml.safe_load(control_plane.kubeconfig.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{proxy.port}"
    path = tmp_path / "proxied.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    try:
        yield path, proxy
    finally:
        with contextlib.suppress(Exception):
            await proxy.close()


def wait_for_control_plane_to_settle(control_plane: ControlPlane, timeout: float = 180) -> None:
    """After an apiserver restart, kube-controller-manager's watches back off (up to 30-60 s):
    wait until a new namespace gets its default ServiceAccount again, so later tests find a
    working cluster."""
    name = f"settle-{uuid.uuid4().hex[:8]}"
    control_plane.kubectl("create", "namespace", name)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = control_plane.kubectl("get", "serviceaccount", "default", "-n", name, check=False)
            if got.returncode == 0:
                return
            time.sleep(0.5)
        raise AssertionError(f"control plane did not settle within {timeout}s after a restart")
    finally:
        control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def restarts_apiserver(control_plane: ControlPlane) -> Iterator[None]:
    """Marks a test that restarts kube-apiserver; afterwards waits for the cluster to settle."""
    yield
    wait_for_control_plane_to_settle(control_plane)
