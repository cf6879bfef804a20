"""The local provider's pure parts: node layout, config files, admission, label rules.

Booting a node needs root and the node binaries; that is covered by the real-node e2e
tests. Here: what is written, and what is refused before anything starts.
"""

from __future__ import annotations

import ipaddress
import json
import os
import time
import tomllib
from pathlib import Path

import pytest

from kaito.api.catalog import GPUConfig
from kaito.provisioner.cloud.base import InstanceRequest, Taint
from kaito.provisioner.cloud.errors import InvalidRequest, QuotaExceeded
from kaito.provisioner.cloud.local import LocalProvider
from kaito.provisioner.localnode import configs, preflight, slots
from kaito.provisioner.localnode.configs import NodeHost
from kaito.provisioner.localnode.layout import (
    HOST_ADDRESS,
    POD_CIDR,
    NodeLayout,
    existing_nodes,
)
from kaito.provisioner.localnode.node import LocalNode, kubelet_may_set, new_record

CPU_SKU = GPUConfig(sku="Standard_D4s_v5", cloud="azure", gpu_count=0, gpu_model="", gpu_memory=0)
GPU_SKU = GPUConfig(
    sku="Standard_NC6s_v3", cloud="azure", gpu_count=1, gpu_model="NVIDIA V100", gpu_memory=16 << 30
)


def skus(name: str) -> GPUConfig | None:
    return {"Standard_D4s_v5": CPU_SKU, "Standard_NC6s_v3": GPU_SKU}.get(name)


def host(tmp_path: Path) -> NodeHost:
    return NodeHost(
        bin_dir=tmp_path / "bin",
        server="https://127.0.0.1:6443",
        ca_pem=b"-----BEGIN CERTIFICATE-----\n",
        sandbox_image="10.245.0.1:5000/kaito/pause:3.10",
        insecure_registries=("10.245.0.1:5000",),
    )


def test_layouts_of_different_indexes_never_share_a_subnet_port_or_bridge(tmp_path: Path) -> None:
    a, b = NodeLayout(tmp_path, "a", 0), NodeLayout(tmp_path, "b", 1)
    assert a.pod_subnet != b.pod_subnet
    assert a.pod_subnet.subnet_of(POD_CIDR) and b.pod_subnet.subnet_of(POD_CIDR)  # type: ignore[arg-type]
    assert not a.pod_subnet.overlaps(ipaddress.ip_network("10.244.0.0/24"))  # kwok's range
    ports_a = {a.kubelet_port, a.kubelet_healthz_port, a.proxy_healthz_port, a.proxy_metrics_port}
    ports_b = {b.kubelet_port, b.kubelet_healthz_port, b.proxy_healthz_port, b.proxy_metrics_port}
    assert len(ports_a) == 4 and not ports_a & ports_b
    assert a.bridge != b.bridge and a.cgroup_root != b.cgroup_root
    assert a.gateway == str(a.pod_subnet.network_address + 1)


def test_containerd_config_parses_and_carries_the_settings_this_machine_needs(
    tmp_path: Path,
) -> None:
    layout = NodeLayout(tmp_path, "node-a", 0)
    config = tomllib.loads(configs.containerd_toml(layout, host(tmp_path)))
    assert config["version"] == 3
    assert config["root"] == str(layout.containerd_root)
    assert config["grpc"]["address"] == str(layout.containerd_socket)
    runtime = config["plugins"]["io.containerd.cri.v1.runtime"]
    assert runtime["restrict_oom_score_adj"] is True
    assert runtime["netns_mounts_under_state_dir"] is True
    assert runtime["cni"]["conf_dir"] == str(layout.cni_conf_dir)
    images = config["plugins"]["io.containerd.cri.v1.images"]
    assert images["pinned_images"]["sandbox"] == "10.245.0.1:5000/kaito/pause:3.10"
    assert images["registry"]["config_path"] == str(layout.registry_hosts)
    hosts = tomllib.loads(configs.registry_hosts_toml("10.245.0.1:5000"))
    assert hosts["server"] == "http://10.245.0.1:5000"


def test_every_path_a_node_writes_is_under_its_directory(tmp_path: Path) -> None:
    layout = NodeLayout(tmp_path, "node-a", 0)
    configs.write_all(layout, host(tmp_path))
    kubelet = json.loads(layout.kubelet_config.read_text())
    assert kubelet["failCgroupV1"] is False and kubelet["cgroupDriver"] == "cgroupfs"
    assert kubelet["address"] == HOST_ADDRESS
    assert kubelet["authentication"]["anonymous"]["enabled"] is False
    assert kubelet["authorization"]["mode"] == "Webhook"
    for key in ("podLogsDir", "resolvConf", "volumePluginDir"):
        assert Path(kubelet[key]).is_relative_to(layout.dir), key
    assert layout.resolv_conf.read_text() == ""  # pods never ask a DNS server off the machine
    cni = json.loads((layout.cni_conf_dir / "10-kaito.conflist").read_text())
    bridge = cni["plugins"][0]
    assert bridge["ipMasq"] is False and bridge["bridge"] == layout.bridge
    assert Path(bridge["ipam"]["dataDir"]).is_relative_to(layout.dir)
    proxy = json.loads(layout.proxy_config.read_text())
    assert (
        proxy["conntrack"]["maxPerCore"] == 0 and proxy["iptables"]["localhostNodePorts"] is False
    )
    assert (layout.registry_hosts / "10.245.0.1:5000" / "hosts.toml").exists()
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and all(p.is_relative_to(layout.dir) for p in written)


def test_kubelet_flags_carry_labels_and_taints(tmp_path: Path) -> None:
    layout = NodeLayout(tmp_path, "node-a", 0)
    argv = configs.kubelet_flags(
        layout,
        host(tmp_path),
        {"apps": "smollm2", "kaito.sh/workspace": "w"},
        ["sku=gpu:NoSchedule"],
    )
    assert "--hostname-override=node-a" in argv
    assert f"--cert-dir={layout.pki / 'kubelet-serving'}" in argv  # not /var/lib/kubelet/pki
    assert "--node-labels=apps=smollm2,kaito.sh/workspace=w" in argv
    assert "--register-with-taints=sku=gpu:NoSchedule" in argv


@pytest.mark.parametrize(
    ("key", "allowed"),
    [
        ("apps", True),
        ("kaito.sh/workspace", True),
        ("karpenter.sh/nodepool", True),
        ("node.kubernetes.io/instance-type", True),
        ("kubernetes.io/os", True),
        ("node-role.kubernetes.io/worker", False),
        ("kubernetes.azure.com/agentpool", True),
        ("notkubernetes.io/x", True),
        ("example.k8s.io/x", False),
    ],
)
def test_labels_the_kubelet_may_register_with(key: str, allowed: bool) -> None:
    assert kubelet_may_set(key) is allowed


def provider(tmp_path: Path, **kwargs: object) -> LocalProvider:
    return LocalProvider(
        None,  # type: ignore[arg-type]  # never reached: these creates are refused first
        skus,
        host=host(tmp_path),
        state_dir=tmp_path / "nodes",
        image_cache_dir=tmp_path / "images",
        slots_dir=tmp_path / "slots",
        **kwargs,  # type: ignore[arg-type]
    )


def record(tmp_path: Path, name: str, index: int, state: str = "nodes") -> None:
    layout = NodeLayout(tmp_path / state, name, index)
    assert slots.claim(name, layout.dir, index + 1, tmp_path / "slots") == index
    LocalNode(layout, host(tmp_path), tmp_path / "images").write_record(
        new_record(
            index=index,
            instance_type="Standard_D4s_v5",
            labels={},
            taints=[],
            created_at=None,
            simulated_gpus=0,
        )
    )


async def test_past_capacity_a_claim_is_refused_like_a_quota_naming_the_running_nodes(
    tmp_path: Path,
) -> None:
    record(tmp_path, "first", 0)
    with pytest.raises(QuotaExceeded) as refused:
        await provider(tmp_path).create(InstanceRequest("second", "Standard_D4s_v5"))
    assert refused.value.code == "LocalCapacityExceeded"
    assert "at most 1 real node(s)" in refused.value.message and "first" in refused.value.message
    assert refused.value.retryable  # capacity frees up when that node is deleted
    assert set(existing_nodes(tmp_path / "nodes")) == {"first"}


async def test_a_machine_that_cannot_host_a_node_says_what_it_lacks(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest) as refused:
        await provider(tmp_path).create(
            InstanceRequest("n1", "Standard_D4s_v5", taints=[Taint("sku", "gpu")])
        )
    assert refused.value.code == "LocalNodeUnsupported"
    assert "cannot host a real node" in refused.value.message
    assert "kubelet" in refused.value.message  # the empty bin dir lacks the binaries
    assert existing_nodes(tmp_path / "nodes") == {}


async def test_unknown_and_gpu_instance_types_without_kwok_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest) as unknown:
        await provider(tmp_path).create(InstanceRequest("n1", "Standard_Nope"))
    assert unknown.value.code == "SkuNotAvailable"
    with pytest.raises(InvalidRequest) as gpu:
        await provider(tmp_path).create(InstanceRequest("n1", "Standard_NC6s_v3"))
    assert "--simulated-gpus" in gpu.value.message


def test_preflight_names_missing_binaries(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "kubelet").write_text("")
    lacks = preflight.missing(tmp_path / "bin")
    text = preflight.refusal(lacks)
    assert "kube-proxy" in text and "containerd" in text and "hack/node/build.sh" in text
    assert "kubelet," not in text


async def test_a_recorded_node_is_listed_and_got_as_creating_until_it_runs(tmp_path: Path) -> None:
    record(tmp_path, "first", 0)
    local = provider(tmp_path)
    found = await local.get("first")
    assert found is not None and found.state.value == "creating" and found.node_name is None
    assert found.provider_id == "local://first"
    assert [i.name for i in await local.list()] == ["first"]
    assert await local.get("other") is None


async def test_capacity_counts_nodes_of_every_state_directory_on_the_machine(
    tmp_path: Path,
) -> None:
    record(tmp_path, "made-by-make-run", 0, state="other-state")
    with pytest.raises(QuotaExceeded) as refused:
        await provider(tmp_path).create(InstanceRequest("mine", "Standard_D4s_v5"))
    assert "made-by-make-run" in refused.value.message


def test_a_slot_whose_node_directory_is_gone_is_free_again(tmp_path: Path) -> None:
    root = tmp_path / "slots"
    record(tmp_path, "gone", 0)
    assert slots.held(root)[0]["name"] == "gone"
    import shutil

    shutil.rmtree(tmp_path / "nodes" / "gone")
    old = time.time() - slots.CLAIM_GRACE - 1
    os.utime(root / "0.json", (old, old))
    assert slots.held(root) == {}
    assert slots.claim("next", tmp_path / "nodes" / "next", 1, root) == 0


def test_a_slot_being_claimed_counts_as_taken(tmp_path: Path) -> None:
    root = tmp_path / "slots"
    assert slots.claim("a", tmp_path / "nodes" / "a", 1, root) == 0  # no record yet
    assert slots.claim("b", tmp_path / "nodes" / "b", 1, root) is None
    slots.release(0, tmp_path / "nodes" / "a", root)
    assert slots.claim("b", tmp_path / "nodes" / "b", 1, root) == 0


def test_a_recorded_node_takes_back_its_stale_slot_unless_another_node_holds_it(
    tmp_path: Path,
) -> None:
    root = tmp_path / "slots"
    record(tmp_path, "mine", 0)
    mine = tmp_path / "nodes" / "mine"
    assert slots.reclaim(0, "mine", mine, root)  # still ours
    (root / "0.json").unlink()  # went stale and was freed
    assert slots.reclaim(0, "mine", mine, root)
    slots.release(0, mine, root)
    assert slots.claim("other", tmp_path / "nodes" / "other", 1, root) == 0
    assert not slots.reclaim(0, "mine", mine, root)
