"""Boot and tear down one real local node.

:meth:`LocalNode.boot` is idempotent at every step (files are rewritten, certificates kept,
daemons adopted when their pid files name a live process), so calling it again after a
provisioner died half-way finishes the same node instead of starting a second one.
:meth:`LocalNode.teardown` drains the node through the API, stops its daemons, kills what is
left in its cgroups and removes every trace of it; it too can be repeated after a crash.

containerd's image store is kept in a cache directory per node index (not in the node's
state directory), so a new node does not pull multi-gigabyte model images again; the
containers, sandboxes and snapshots of a deleted node are removed from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import signal
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from kaito.provisioner.localnode import configs, hostnet, slots
from kaito.provisioner.localnode.configs import NodeHost
from kaito.provisioner.localnode.daemons import Daemon, processes_with_argument
from kaito.provisioner.localnode.identity import (
    CLIENT_SIGNER,
    KUBELET_SIGNER,
    issue_client_certificate,
)
from kaito.provisioner.localnode.layout import NodeLayout, read_claim
from kaito.runtime import resources as r
from kaito.runtime.client import Client
from kaito.runtime.conditions import is_object_condition_true
from kaito.runtime.errors import ApiError, NotFound

log = logging.getLogger("kaito.provisioner.localnode")

ALLOWED_KUBELET_LABEL_DOMAINS = ("kubelet.kubernetes.io/", "node.kubernetes.io/")
ALLOWED_KUBELET_LABELS = frozenset(
    {
        "kubernetes.io/hostname",
        "kubernetes.io/arch",
        "kubernetes.io/os",
        "node.kubernetes.io/instance-type",
        "topology.kubernetes.io/region",
        "topology.kubernetes.io/zone",
    }
)


class NodeBootError(RuntimeError):
    """The node did not come up; the message names the daemon and the end of its log."""


def kubelet_may_set(key: str) -> bool:
    """Whether the kubelet may register with this label (NodeRestriction's rule)."""
    domain = key.split("/", 1)[0] if "/" in key else ""
    if not any(domain == d or domain.endswith("." + d) for d in ("kubernetes.io", "k8s.io")):
        return True
    return key in ALLOWED_KUBELET_LABELS or key.startswith(ALLOWED_KUBELET_LABEL_DOMAINS)


@attrs.define
class LocalNode:
    """One node under ``layout``; ``image_cache`` holds containerd's content across nodes."""

    layout: NodeLayout
    host: NodeHost
    image_cache: Path
    slots_dir: Path = slots.SLOTS
    """Where the host-wide slot of the node is (:mod:`.slots`)."""

    # -- records ------------------------------------------------------------------------
    def record(self) -> dict[str, Any] | None:
        return read_claim(self.layout)

    def write_record(self, record: Mapping[str, Any]) -> None:
        self.layout.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.layout.claim_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(dict(record), indent=2, sort_keys=True))
        tmp.replace(self.layout.claim_file)

    def set_phase(self, phase: str) -> None:
        record = self.record() or {}
        if record.get("phase") != phase:
            self.write_record({**record, "phase": phase})

    # -- daemons ------------------------------------------------------------------------
    def daemons(self) -> dict[str, Daemon]:
        record = self.record() or {}
        labels = {k: v for k, v in (record.get("labels") or {}).items() if kubelet_may_set(k)}
        taints: Iterable[str] = record.get("taints") or []
        layout, host = self.layout, self.host
        return {
            "containerd": Daemon(
                "containerd",
                (str(host.bin_dir / "containerd"), f"--config={layout.containerd_config}"),
                layout.run / "containerd.pid",
                layout.logs / "containerd.log",
            ),
            "kubelet": Daemon(
                "kubelet",
                configs.kubelet_flags(layout, host, labels, taints),
                layout.run / "kubelet.pid",
                layout.logs / "kubelet.log",
            ),
            "kube-proxy": Daemon(
                "kube-proxy",
                (str(host.bin_dir / "kube-proxy"), f"--config={layout.proxy_config}"),
                layout.run / "kube-proxy.pid",
                layout.logs / "kube-proxy.log",
            ),
        }

    def running(self) -> dict[str, bool]:
        return {name: d.pid() is not None for name, d in self.daemons().items()}

    # -- boot ---------------------------------------------------------------------------
    async def boot(self, client: Client, *, timeout: float = 180.0) -> dict[str, Any]:
        """Bring the node up (or finish bringing it up) and return its Ready Node object."""
        layout = self.layout
        record = self.record()
        if record is None:
            raise NodeBootError(f"node {layout.name} has no record in {layout.dir}")
        await asyncio.to_thread(self._prepare_host)
        await issue_client_certificate(
            client,
            csr_name=f"kaito-node-{layout.name}",
            common_name=f"system:node:{layout.name}",
            organization="system:nodes",
            signer=KUBELET_SIGNER,
            cert_path=layout.pki / "kubelet.crt",
            key_path=layout.pki / "kubelet.key",
        )
        await issue_client_certificate(
            client,
            csr_name=f"kaito-node-{layout.name}-proxy",
            common_name="system:kube-proxy",
            organization=None,
            signer=CLIENT_SIGNER,
            cert_path=layout.pki / "kube-proxy.crt",
            key_path=layout.pki / "kube-proxy.key",
        )
        daemons = self.daemons()
        daemons["containerd"].start()
        await self._wait_for(
            daemons["containerd"], lambda: layout.containerd_socket.exists(), timeout
        )
        daemons["kubelet"].start()
        daemons["kube-proxy"].start()
        node = await self._wait_ready(client, daemons, timeout)
        node = await self._finish_registration(client, node, record)
        self.set_phase("running")
        return node

    async def revive(self) -> list[str]:
        """Start again the daemons of a running node that died (systemd's Restart=always on a
        VM); return their names. containerd comes first: the kubelet needs its socket."""
        daemons = self.daemons()
        dead = [name for name, daemon in daemons.items() if daemon.pid() is None]
        if not dead:
            return []
        await asyncio.to_thread(self._prepare_host)
        if "containerd" in dead:
            daemons["containerd"].start()
            await self._wait_for(
                daemons["containerd"], lambda: self.layout.containerd_socket.exists(), 60.0
            )
        for name in dead:
            daemons[name].start()
        return dead

    def _prepare_host(self) -> None:
        layout = self.layout
        hostnet.ensure_host_address()
        hostnet.enable_forwarding()
        hostnet.ensure_isolation()
        hostnet.make_cgroup_root(layout)
        layout.sockets.mkdir(parents=True, exist_ok=True)
        configs.write_all(layout, self.host)
        # containerd's content (images) outlives the node: link its root into the cache
        self.image_cache.mkdir(parents=True, exist_ok=True)
        if not layout.containerd_root.is_symlink():
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(layout.containerd_root)
            layout.containerd_root.symlink_to(self.image_cache, target_is_directory=True)

    async def _wait_for(self, daemon: Daemon, ready: Any, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not ready():
            if daemon.exited():
                raise NodeBootError(
                    f"{daemon.name} of node {self.layout.name} exited: {daemon.log_tail()}"
                )
            if loop.time() > deadline:
                raise NodeBootError(f"{daemon.name} of node {self.layout.name} not up in time")
            await asyncio.sleep(0.1)

    async def _wait_ready(
        self, client: Client, daemons: Mapping[str, Daemon], timeout: float
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for daemon in daemons.values():
                if daemon.exited():
                    raise NodeBootError(
                        f"{daemon.name} of node {self.layout.name} exited: {daemon.log_tail()}"
                    )
            with contextlib.suppress(NotFound):
                node = await client.get(r.NODE, self.layout.name)
                if is_object_condition_true(node, "Ready"):
                    return node
            if loop.time() > deadline:
                raise NodeBootError(
                    f"node {self.layout.name} not Ready within {timeout:.0f}s; kubelet log: "
                    f"{daemons['kubelet'].log_tail()}"
                )
            await asyncio.sleep(0.25)

    async def _finish_registration(
        self, client: Client, node: dict[str, Any], record: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Labels the kubelet may not set itself, and simulated GPU capacity."""
        name = self.layout.name
        labels = node["metadata"].get("labels") or {}
        wanted = {
            k: v
            for k, v in (record.get("labels") or {}).items()
            if not kubelet_may_set(k) and labels.get(k) != v
        }
        if wanted:
            node = await client.patch(r.NODE, name, {"metadata": {"labels": wanted}})
        gpus = int(record.get("simulatedGpus") or 0)
        if gpus:
            capacity = (node.get("status") or {}).get("capacity") or {}
            if capacity.get("nvidia.com/gpu") != str(gpus):
                resources = {"nvidia.com/gpu": str(gpus)}
                node = await client.patch(
                    r.NODE,
                    name,
                    {"status": {"capacity": resources, "allocatable": resources}},
                    subresource="status",
                )
        return node

    # -- teardown -----------------------------------------------------------------------
    async def teardown(
        self, client: Client | None, *, last_node: bool, drain_timeout: float = 60.0
    ) -> None:
        """Drain, stop and remove the node; ``last_node`` also removes the shared rules."""
        layout = self.layout
        if layout.claim_file.exists():
            self.set_phase("deleting")
        keep: set[str] = {self.host.sandbox_image}
        if client is not None:
            keep |= await self._drain(client, drain_timeout)
        daemons = self.daemons()
        await daemons["kube-proxy"].stop()
        await daemons["kubelet"].stop()
        await asyncio.to_thread(hostnet.kill_cgroup_tree, layout)
        if daemons["containerd"].pid() is not None:
            await asyncio.to_thread(self._remove_containers, keep if client is not None else None)
        await daemons["containerd"].stop()
        for pid in processes_with_argument(str(layout.containerd_socket)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        await asyncio.to_thread(self._clean_host, last_node)
        if client is not None:
            with contextlib.suppress(NotFound):
                await client.delete(r.NODE, layout.name)

    async def _drain(self, client: Client, timeout: float) -> set[str]:
        """Evict the node's pods (their grace period while the kubelet runs, none when it is
        dead, at most ``timeout`` seconds); returns the images they ran."""
        name = self.layout.name
        try:
            await client.patch(r.NODE, name, {"spec": {"unschedulable": True}})
        except NotFound:
            return set()
        kubelet_alive = self.daemons()["kubelet"].pid() is not None
        selector = f"spec.nodeName={name}"
        pods = (await client.list(r.POD, field_selector=selector)).items
        images = {
            str(container["image"])
            for pod in pods
            for kind in ("initContainers", "containers")
            for container in (pod.get("spec") or {}).get(kind) or []
            if container.get("image")
        }
        for pod in pods:
            meta = pod["metadata"]
            with contextlib.suppress(NotFound):
                await client.delete(
                    r.POD,
                    meta["name"],
                    meta["namespace"],
                    grace_period_seconds=None if kubelet_alive else 0,
                )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout if kubelet_alive else 0)
        while (await client.list(r.POD, field_selector=selector)).items:
            if loop.time() > deadline:
                for pod in (await client.list(r.POD, field_selector=selector)).items:
                    meta = pod["metadata"]
                    with contextlib.suppress(NotFound, ApiError):
                        await client.delete(
                            r.POD, meta["name"], meta["namespace"], grace_period_seconds=0
                        )
                break
            await asyncio.sleep(0.5)
        return images

    def _ctr(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                str(self.host.bin_dir / "ctr"),
                f"--address={self.layout.containerd_socket}",
                "--namespace=k8s.io",
                *args,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    def _remove_containers(self, keep_images: set[str] | None) -> None:
        """Forget the node's containers and sandboxes. The image cache keeps the images in
        ``keep_images`` (what the node's last pods ran, which the next node likely runs too)
        and drops the rest, so superseded tags of multi-GB images do not pile up; None keeps
        every image."""
        for line in self._ctr("tasks", "ls", "-q").stdout.split():
            self._ctr("tasks", "kill", "-s", "SIGKILL", line)
            self._ctr("tasks", "delete", "-f", line)
        ids = self._ctr("containers", "ls", "-q").stdout.split()
        if ids:
            self._ctr("containers", "rm", *ids)
        sandboxes = self._ctr("sandboxes", "ls", "-q").stdout.split()
        for sandbox in sandboxes:
            self._ctr("sandboxes", "rm", "-f", sandbox)
        if keep_images is None:
            return
        listed = [line.split() for line in self._ctr("images", "ls").stdout.splitlines()[1:]]
        refs = [(fields[0], fields[2]) for fields in listed if len(fields) > 2]
        kept = {digest for ref, digest in refs if ref in keep_images}
        stale = [ref for ref, digest in refs if digest not in kept]  # every name of an image
        if stale:
            self._ctr("images", "rm", "--sync", *stale)

    def _clean_host(self, last_node: bool) -> None:
        layout = self.layout
        hostnet.unmount_under(layout.dir)
        hostnet.unmount_under(self.image_cache)
        hostnet.delete_bridge(layout)
        hostnet.remove_cni_results(layout)
        if last_node:
            if (self.host.bin_dir / "kube-proxy").exists():
                subprocess.run(
                    [str(self.host.bin_dir / "kube-proxy"), "--cleanup"],
                    capture_output=True,
                    check=False,
                    timeout=60,
                )
            hostnet.remove_owned_chains()
            hostnet.remove_empty_shim_dir()
            hostnet.remove_device_plugin_dir()
        shutil.rmtree(layout.sockets, ignore_errors=True)
        if layout.containerd_root.is_symlink():
            layout.containerd_root.unlink()
        shutil.rmtree(layout.dir, ignore_errors=True)
        slots.release(layout.index, layout.dir, self.slots_dir)


def new_record(
    *,
    index: int,
    instance_type: str,
    labels: Mapping[str, str],
    taints: Iterable[str],
    created_at: dt.datetime | None,
    simulated_gpus: int,
) -> dict[str, Any]:
    return {
        "index": index,
        "instanceType": instance_type,
        "labels": dict(labels),
        "taints": list(taints),
        "createdAt": (created_at or dt.datetime.now(dt.UTC)).isoformat(),
        "simulatedGpus": simulated_gpus,
        "phase": "booting",
    }
