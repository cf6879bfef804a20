"""The local provider against the real control plane: a real node boots, runs a pod, comes
back after its kubelet is killed, is adopted after the provisioner dies mid-boot, and leaves
nothing behind when deleted.

Needs root and the node binaries (``hack/node/build.sh``) plus the pause image in the local
registry (``hack/images/build.sh``); the fixtures build them when missing.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kaito.presets import get_sku
from kaito.provisioner.cloud.base import InstanceRequest, InstanceState, Taint
from kaito.provisioner.cloud.errors import QuotaExceeded
from kaito.provisioner.cloud.local import LocalProvider
from kaito.provisioner.localnode import hostnet
from kaito.provisioner.localnode.layout import NodeLayout, existing_nodes
from kaito.runtime import resources as r
from kaito.runtime.client import Client
from kaito.runtime.errors import NotFound
from kaito.testenv import ControlPlane
from tests.support.local_nodes import local_provider
from tests.support.waiting import async_wait_until

REPO = Path(__file__).resolve().parents[3]
CPU_SKU = "Standard_D4s_v5"
GPU_SKU = "Standard_NC6s_v3"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="real nodes need root")


def _run(*argv: str) -> str:
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{' '.join(argv)}:\n{proc.stderr[-3000:]}"
    return proc.stdout.strip()


@pytest.fixture(scope="module")
def node_host_parts() -> tuple[Path, str]:
    bin_dir = Path(_run("bash", "hack/node/build.sh").splitlines()[-1])
    _run("bash", "hack/images/build.sh")  # a no-op when warm; e2e needs them all anyway
    env_file = Path(_run("bash", "hack/images/build.sh", "--env-file").splitlines()[-1])
    images = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    return bin_dir, images["KAITO_PAUSE_IMAGE"]


@pytest.fixture
async def client(control_plane: ControlPlane) -> AsyncIterator[Client]:
    async with await Client.from_kubeconfig(control_plane.kubeconfig) as c:
        yield c


@pytest.fixture
async def provider(
    client: Client, node_host_parts: tuple[Path, str]
) -> AsyncIterator[LocalProvider]:
    async for local in _provider(client, node_host_parts, simulated_gpus=False):
        yield local


@pytest.fixture
async def gpu_provider(
    client: Client, node_host_parts: tuple[Path, str]
) -> AsyncIterator[LocalProvider]:
    async for local in _provider(client, node_host_parts, simulated_gpus=True):
        yield local


async def _provider(
    client: Client, node_host_parts: tuple[Path, str], *, simulated_gpus: bool
) -> AsyncIterator[LocalProvider]:
    bin_dir, pause = node_host_parts
    async with local_provider(
        client, bin_dir, pause, simulated_gpus=simulated_gpus, prefix="kaito-it-"
    ) as local:
        yield local


def _pids(layout: NodeLayout) -> dict[str, int]:
    return {p.stem: int(p.read_text()) for p in layout.run.glob("*.pid")}


async def _ready(client: Client, name: str) -> dict[str, Any] | None:
    try:
        node = await client.get(r.NODE, name)
    except NotFound:
        return None
    conditions = (node.get("status") or {}).get("conditions") or []
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
    return node if ready else None


async def test_a_cpu_claim_becomes_a_real_node_that_runs_a_pod_and_leaves_nothing_behind(
    provider: LocalProvider, client: Client, control_plane: ControlPlane
) -> None:
    request = InstanceRequest(
        "local-it-a",
        CPU_SKU,
        labels={"apps": "it", "kaito.sh/workspace": "w", "kubernetes.azure.com/x": "y"},
        taints=[Taint("sku", "gpu")],
    )
    instance = await provider.create(request)
    assert instance.state is InstanceState.RUNNING and instance.node_name == "local-it-a"
    assert instance.provider_id == "local://local-it-a"
    node = await client.get(r.NODE, "local-it-a")
    labels = node["metadata"]["labels"]
    assert labels["apps"] == "it" and labels["kaito.sh/local-instance"] == "true"
    assert labels["node.kubernetes.io/instance-type"] == CPU_SKU
    assert node["spec"]["providerID"] == "local://local-it-a"
    # the claim's taint (kcm may still add node.kubernetes.io/not-ready for a moment)
    assert {"key": "sku", "value": "gpu", "effect": "NoSchedule"} in node["spec"]["taints"]
    assert await _ready(client, "local-it-a")

    # the kubelet is its own node identity and refuses anonymous callers
    layout = existing_nodes(provider.state_dir)["local-it-a"]
    subject = _run("openssl", "x509", "-noout", "-subject", "-in", str(layout.pki / "kubelet.crt"))
    assert "system:node:local-it-a" in subject and "system:nodes" in subject
    insecure = ssl.create_default_context()
    insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(
            f"https://10.245.0.1:{layout.kubelet_port}/pods", context=insecure, timeout=10
        )
    assert anonymous.value.code == 401

    # pod traffic is fenced in before any pod runs
    postrouting = _run("iptables", "-w", "-t", "mangle", "-S", "POSTROUTING").splitlines()
    assert postrouting[1] == f"-A POSTROUTING -j {hostnet.ISOLATION_CHAIN}"

    # a pod really runs there (the pause image, the one image every node has)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "it-pause", "namespace": "default"},
        "spec": {
            "nodeName": "local-it-a",
            "tolerations": [{"key": "sku", "operator": "Exists"}],
            "containers": [{"name": "pause", "image": provider.host.sandbox_image}],
        },
    }
    await client.create(r.POD, pod)

    async def running() -> bool:
        got = await client.get(r.POD, "it-pause", "default")
        return (got.get("status") or {}).get("phase") == "Running"

    await async_wait_until(running, timeout=120, what="a pod running on the real node")

    await provider.delete("local-it-a")
    assert existing_nodes(provider.state_dir) == {}
    assert not Path(f"/sys/class/net/{layout.bridge}").exists()
    assert not layout.dir.exists()
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(layout.dir) not in mounts
    assert not any(
        (h / layout.cgroup_root.lstrip("/")).exists() for h in hostnet.cgroup_hierarchies()
    )
    saved = _run("iptables-save")
    assert "KUBE-" not in saved and "CNI-" not in saved and "KAITO-" not in saved
    with pytest.raises(NotFound):
        await client.get(r.NODE, "local-it-a")
    with pytest.raises(NotFound):  # drained: its pod is gone too
        await client.get(r.POD, "it-pause", "default")


async def test_simulated_gpus_make_a_real_node_run_a_gpu_pod_spec(
    gpu_provider: LocalProvider, client: Client
) -> None:
    """--simulated-gpus: a GPU SKU becomes a real node advertising the SKU's GPU count (as an
    extended resource, kept across the kubelet's own status updates), so a real kubelet runs a
    pod that requests ``nvidia.com/gpu`` (no GPU is touched: the container does not use it)."""
    sku = get_sku(GPU_SKU)
    assert sku is not None and sku.gpu_count == 1
    await gpu_provider.create(InstanceRequest("local-it-gpu", GPU_SKU, labels={"apps": "it"}))
    node = await client.get(r.NODE, "local-it-gpu")
    assert node["status"]["capacity"]["nvidia.com/gpu"] == "1"
    assert node["status"]["allocatable"]["nvidia.com/gpu"] == "1"
    assert node["metadata"]["labels"]["node.kubernetes.io/instance-type"] == GPU_SKU

    def heartbeat(obj: dict[str, Any]) -> str:
        ready = [x for x in obj["status"]["conditions"] if x["type"] == "Ready"]
        return str(ready[0]["lastHeartbeatTime"]) if ready else ""

    first = heartbeat(node)

    async def later_status() -> dict[str, Any] | None:
        current = await client.get(r.NODE, "local-it-gpu")
        return current if heartbeat(current) != first else None

    node = await async_wait_until(later_status, timeout=120, what="a later kubelet heartbeat")
    assert node["status"]["allocatable"]["nvidia.com/gpu"] == "1"

    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "it-gpu", "namespace": "default"},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": "local-it-gpu"},
            "tolerations": [{"operator": "Exists"}],
            "containers": [
                {
                    "name": "pause",
                    "image": gpu_provider.host.sandbox_image,
                    "resources": {"limits": {"nvidia.com/gpu": "1"}},
                }
            ],
        },
    }
    await client.create(r.POD, pod)

    async def running() -> bool:
        got = await client.get(r.POD, "it-gpu", "default")
        return (got.get("status") or {}).get("phase") == "Running"

    await async_wait_until(running, timeout=120, what="a GPU pod spec running on the real node")
    await gpu_provider.delete("local-it-gpu")
    with pytest.raises(NotFound):
        await client.get(r.NODE, "local-it-gpu")


async def test_past_capacity_the_second_claim_is_refused_and_the_first_keeps_running(
    provider: LocalProvider, client: Client
) -> None:
    await provider.create(InstanceRequest("local-it-b", CPU_SKU, labels={"apps": "it"}))
    with pytest.raises(QuotaExceeded) as refused:
        await provider.create(InstanceRequest("local-it-c", CPU_SKU, labels={"apps": "it"}))
    assert refused.value.code == "LocalCapacityExceeded" and "local-it-b" in refused.value.message
    assert set(existing_nodes(provider.state_dir)) == {"local-it-b"}
    assert await _ready(client, "local-it-b")


async def test_a_killed_kubelet_is_restarted_by_the_supervisor(
    provider: LocalProvider, client: Client
) -> None:
    await provider.create(InstanceRequest("local-it-d", CPU_SKU, labels={"apps": "it"}))
    layout = existing_nodes(provider.state_dir)["local-it-d"]
    before = _pids(layout)
    os.kill(before["kubelet"], signal.SIGKILL)
    supervisor = asyncio.create_task(provider.supervise(interval=0.2))
    try:

        async def restarted() -> bool:
            now = _pids(layout)
            return now.get("kubelet", before["kubelet"]) != before["kubelet"]

        await async_wait_until(restarted, timeout=30, what="a new kubelet")
    finally:
        supervisor.cancel()
    assert _pids(layout)["containerd"] == before["containerd"]  # the rest untouched
    await async_wait_until(lambda: _ready(client, "local-it-d"), timeout=60, what="Ready again")


BOOT_IN_SUBPROCESS = """
import asyncio, sys
from pathlib import Path
from kaito.presets import get_sku
from kaito.provisioner.cloud.base import InstanceRequest
from kaito.provisioner.cloud.local import LocalProvider
from kaito.provisioner.localnode.configs import NodeHost
from kaito.runtime.client import Client

async def main():
    client = await Client.from_kubeconfig(sys.argv[1])
    host = NodeHost(bin_dir=Path(sys.argv[2]), server=client.server, ca_pem=client.ca_pem(),
                    sandbox_image=sys.argv[3], insecure_registries=())
    local = LocalProvider(client, get_sku, host=host, state_dir=Path(sys.argv[4]),
                          image_cache_dir=Path(sys.argv[5]))
    await local.create(InstanceRequest("local-it-e", "Standard_D4s_v5", labels={"apps": "it"}))

asyncio.run(main())
"""


async def test_a_provisioner_killed_mid_boot_is_succeeded_by_one_that_adopts_the_node(
    provider: LocalProvider, client: Client, control_plane: ControlPlane
) -> None:
    layout = NodeLayout(provider.state_dir, "local-it-e", 0)
    doomed = subprocess.Popen(
        [
            sys.executable,
            "-c",
            BOOT_IN_SUBPROCESS,
            str(control_plane.kubeconfig),
            str(provider.host.bin_dir),
            provider.host.sandbox_image,
            str(provider.state_dir),
            str(provider.image_cache_dir),
        ],
        cwd=REPO,
    )
    try:

        async def containerd_started() -> bool:
            return (layout.run / "containerd.pid").exists()

        await async_wait_until(containerd_started, timeout=60, what="the doomed boot to start")
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
    half = _pids(layout)
    record = json.loads(layout.claim_file.read_text())
    assert record["phase"] == "booting"

    instance = await provider.create(InstanceRequest("local-it-e", CPU_SKU, labels={"apps": "it"}))
    assert instance.state is InstanceState.RUNNING
    assert _pids(layout)["containerd"] == half["containerd"]  # adopted, not started twice
    containerds = _run("pgrep", "-f", "--", f"--config={layout.containerd_config}").split()
    assert len(containerds) == 1
    assert list(existing_nodes(provider.state_dir)) == ["local-it-e"]
    assert await _ready(client, "local-it-e")
